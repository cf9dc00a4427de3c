"""Bad input to the provider models is refused with a message that names the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.providers.contract import SendRequest
from bot.providers.solucion_factible import wire
from bot.sat.cancellation import CancelItem
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef

UUID = "3f2a9c10-4d1b-4e8a-9c21-0b7d5e6f1a2b"
OTHER = "9D8C7B6A-5E4F-4A3B-8213-1C2D3E4F5A6B"


def errors_of(call: object) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        call()  # type: ignore[operator]
    return [(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(("text", "expected"), [
    (UUID, {"uuid": UUID.upper()}),
    ("{" + UUID.replace("-", "") + "}", {"uuid": UUID.upper()}),
    ("FAC 1001", {"serie": "FAC", "folio": 1001}),
    ("fac-1001", {"serie": "FAC", "folio": 1001}),
    ("A123", {"serie": "A", "folio": 123}),
])
def test_lines_people_type_are_read(text: str, expected: dict) -> None:
    ref = InvoiceRef.parse(text)
    assert ref.model_dump(exclude_none=True) == expected


@pytest.mark.parametrize(("build", "field", "kind"), [
    (lambda: InvoiceRef(uuid="not-a-uuid"), "uuid", "invalid_uuid"),
    (lambda: InvoiceRef(uuid=UUID, serie="A", folio=1), "", "uuid_and_folio"),
    (lambda: InvoiceRef(serie="A"), "", "missing_reference"),
    (lambda: InvoiceRef(serie="A B", folio=1), "serie", "invalid_serie"),
    (lambda: InvoiceRef(serie="A", folio=0), "folio", "greater_than_equal"),
    (lambda: InvoiceRef.parse("hola mundo"), "", "not_a_reference"),
    (lambda: CancelItem(ref=InvoiceRef(uuid=UUID), reason="05"), "reason", "enum"),
    (lambda: CancelItem(ref=InvoiceRef(uuid=UUID), reason="01"), "", "replacement_required"),
    (lambda: CancelItem(ref=InvoiceRef(uuid=UUID), reason="01", replacement=UUID), "",
     "replacement_is_self"),
    (lambda: CancelItem(ref=InvoiceRef(uuid=UUID), reason="01", replacement="xyz"),
     "replacement", "invalid_uuid"),
    (lambda: CancelItem(ref=InvoiceRef(uuid=UUID), reason="02", replacement=OTHER), "",
     "replacement_not_allowed"),
    (lambda: SendRequest(refs=[InvoiceRef(uuid=UUID)], emails=["no-at-sign"]), "emails",
     "invalid_email"),
    (lambda: SendRequest(refs=[], emails=["a@example.com"]), "refs", "too_short"),
])
def test_bad_input_names_the_field_and_kind(build: object, field: str, kind: str) -> None:
    errors = errors_of(build)
    assert any(loc == field and typ == kind for loc, typ, _ in errors), errors
    assert all(msg for _, _, msg in errors)


def test_reasons_carry_the_official_sat_wording() -> None:
    assert CancelReason("01").description == "Comprobante emitido con errores con relación"
    assert CancelReason("04").description == \
        "Operación nominativa relacionada en una factura global"
    assert [r.needs_replacement for r in CancelReason] == [True, False, False, False]


def test_reason_01_works_for_invoices_named_by_serie_and_folio() -> None:
    by_folio = CancelItem(ref=InvoiceRef(serie="A", folio=1), reason="01", replacement=OTHER)
    assert by_folio.replacement == InvoiceRef(uuid=OTHER)
    replaced_by_folio = CancelItem(ref=InvoiceRef(uuid=UUID), reason="01", replacement="B-7")
    assert replaced_by_folio.replacement == InvoiceRef(serie="B", folio=7)


def test_the_reason_always_travels_in_the_uuid_pipe() -> None:
    item = CancelItem(ref=InvoiceRef(uuid=UUID), reason="01", replacement=OTHER.lower())
    assert wire.cancel_item(item) == {"uuid": f"{UUID.upper()}|01|{OTHER}"}
    by_folio = CancelItem(ref=InvoiceRef.parse("B 7"), reason="03")
    assert wire.cancel_item(by_folio) == {"uuid": "|03|", "serie": "B", "folio": 7}
    assert wire.cancel_item(by_folio, motivo=True)["motivoCancelacion"] == "03"
    send = SendRequest(refs=[item.ref], emails=[" Ana@Example.COM "])
    assert wire.send_request(send)["email"] == ["Ana@example.com"]
