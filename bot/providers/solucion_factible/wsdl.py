"""Where the provider's shipped WSDL is (the default of CFDI_WSDL); imports nothing, so the
settings can name it."""

from pathlib import Path

SHIPPED_WSDL = Path(__file__).parent / "cfdi33.wsdl"
