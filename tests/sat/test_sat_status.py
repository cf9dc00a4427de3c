"""The SAT's status service (ConsultaCFDIService) through real zeep over real HTTP: the wire
as the SAT's WCF service expects it, answers as the SAT writes them, failures, and the SAT
stand-in agreeing with the provider sandbox (same memory, same delays)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from bot.config import ConfigError, load_settings
from bot.providers.solucion_factible.client import PacClient
from bot.retries import RetryPolicy
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sandbox.serving import BackgroundServer, QuietHandler
from bot.sat.cancellation import CancelItem
from bot.sat.cfdi import CfdiFacts, CfdiType
from bot.sat.consulta.client import SHIPPED_WSDL, SatClient, SatError, SatTimeout, read
from bot.sat.refs import InvoiceRef
from bot.sat.status import Cancelable, Cancelacion, Estado, SatStatus, expression
from tests.helpers import FAST_RETRY, uuid_with

TEMPURI = "http://tempuri.org/"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def sat(sandbox: SandboxPac) -> Iterator[SandboxSat]:
    with SandboxSat(sandbox.state, sandbox.book) as server:
        yield server


@pytest.fixture
async def client(sat: SandboxSat) -> AsyncIterator[SatClient]:
    built = await SatClient.create(sat.endpoint, timeout_s=2, retry=FAST_RETRY)
    yield built
    await built.aclose()


async def ask(client: SatClient, sandbox: SandboxPac, uuid: str) -> SatStatus:
    facts = sandbox.book.get(uuid)
    return await client.status(facts.issuer_rfc, facts.receiver_rfc, facts.total, uuid)


def seen(status: SatStatus) -> tuple[Estado, Cancelable, Cancelacion]:
    return status.state, status.cancelable, status.cancelacion


async def cancel(pac: PacClient, uuid: str) -> None:
    await pac.cancel([CancelItem(ref=InvoiceRef(uuid=uuid), reason="02")])


# -- the wire ------------------------------------------------------------------------------

class Recorder(BackgroundServer):
    """Records one request's headers and body; answers with `body`."""

    def __init__(self, body: bytes, status: int = 200, content_type: str = "text/xml") -> None:
        self.headers: dict[str, str] = {}
        self.bodies: list[bytes] = []
        self.answers = [(status, content_type, body)]
        server = self

        class Handler(QuietHandler):
            """Records each request's headers and body and answers with the next canned answer."""
            def do_POST(self) -> None:
                server.headers = dict(self.headers)
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                answer = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                self.reply(*answer)

        super().__init__(Handler, "127.0.0.1", 0)


# The SAT's answer as phpcfdi/sat-estado-cfdi stores it from the live service (before
# ValidacionEFOS existed): the DataContract children prefixed `a:`.
LIVE = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/'
        'soap/envelope/"><s:Body><ConsultaResponse xmlns="http://tempuri.org/"><ConsultaResult '
        'xmlns:a="http://schemas.datacontract.org/2004/07/Sat.Cfdi.Negocio.ConsultaCfdi.Servicio">'
        '<a:CodigoEstatus>S - Comprobante obtenido satisfactoriamente.</a:CodigoEstatus>'
        '<a:EsCancelable>Cancelable con aceptación</a:EsCancelable><a:Estado>Vigente</a:Estado>'
        '<a:EstatusCancelacion>Solicitud rechazada</a:EstatusCancelacion></ConsultaResult>'
        '</ConsultaResponse></s:Body></s:Envelope>').encode()


async def test_the_request_is_what_the_sats_wcf_service_dispatches_on() -> None:
    with Recorder(LIVE) as server:
        client = SatClient.build(server.base_url + "/ConsultaCFDIService.svc", retry=FAST_RETRY)
        status = await client.status("H&E951128469", "XAXX010101000", "1160.00",
                                     "9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D")
        await client.aclose()
    assert server.headers["SOAPAction"] == '"http://tempuri.org/IConsultaCFDIService/Consulta"'
    assert server.headers["Content-Type"].startswith("text/xml")
    envelope = etree.fromstring(server.bodies[0])
    assert envelope.find(f"{{{ENV}}}Header") is None  # no WS-Addressing: nobody sends it
    asked = envelope.find(f"{{{ENV}}}Body/{{{TEMPURI}}}Consulta/{{{TEMPURI}}}expresionImpresa")
    assert asked.text == ("?re=H&amp;E951128469&rr=XAXX010101000&tt=1160.00"
                          "&id=9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D")
    assert seen(status) == (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.REJECTED)
    assert status.validacion_efos is None and not status.efos_listed


@pytest.mark.parametrize(("words", "expected"), [
    (("S - Comprobante obtenido satisfactoriamente.", "Cancelado", "Cancelable sin aceptacion",
      "Plazo Vencido", "200"), (Estado.CANCELADO, Cancelable.WITHOUT_ACCEPTANCE,
                                Cancelacion.EXPIRED)),
    (("N - 602: Comprobante no encontrado.", "No Encontrado", None, None, None),
     (Estado.NO_ENCONTRADO, Cancelable.NOT_CANCELABLE, Cancelacion.NONE)),
    (("S - ok", "Vigente", "No cancelable", "", "100"),
     (Estado.VIGENTE, Cancelable.NOT_CANCELABLE, Cancelacion.NONE)),
])
def test_the_sats_words_are_read_without_accents_or_case(words: tuple, expected: tuple
                                                          ) -> None:
    status = SatStatus(**dict(zip(["codigo_estatus", "estado", "es_cancelable",
                                   "estatus_cancelacion", "validacion_efos"], words,
                                  strict=True)))
    assert seen(status) == expected
    assert status.efos_listed == (words[4] == "100")


def test_a_fault_or_another_answer_is_not_a_status() -> None:
    fault = (f'<s:Envelope xmlns:s="{ENV}"><s:Body><s:Fault><faultcode>s:Client</faultcode>'
             '<faultstring>Bad</faultstring></s:Fault></s:Body></s:Envelope>').encode()
    with pytest.raises(SatError, match="SOAP fault: Bad"):
        read(fault)
    with pytest.raises(SatError, match="not a ConsultaResponse"):
        read(LIVE.replace(b'xmlns="http://tempuri.org/"', b'xmlns="http://example.org/"'))
    with pytest.raises(SatError, match="not well-formed"):
        read(LIVE[:100])


def test_the_expression_escapes_an_ampersand_in_an_rfc_only() -> None:
    assert expression("H&E951128469", "URE180429TM6", "10.50", "U") == \
        "?re=H&amp;E951128469&rr=URE180429TM6&tt=10.50&id=U"


# -- the stand-in agrees with the provider sandbox -----------------------------------------

@pytest.mark.parametrize(("code", "before", "after", "later"), [
    # direct: cancelled at once at the SAT (the provider says "received", then 202)
    ("000", (Estado.VIGENTE, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.NONE),
     (Estado.CANCELADO, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.DIRECT), None),
    ("A11", (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.NONE),
     (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.IN_PROCESS),
     (Estado.CANCELADO, Cancelable.WITH_ACCEPTANCE, Cancelacion.ACCEPTED)),
    ("B11", None, (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.IN_PROCESS),
     (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.REJECTED)),
    ("C11", None, (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.IN_PROCESS),
     (Estado.CANCELADO, Cancelable.WITH_ACCEPTANCE, Cancelacion.EXPIRED)),
    ("D11", None, (Estado.VIGENTE, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.NONE),
     (Estado.CANCELADO, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.DIRECT)),
    ("211", None, (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.IN_PROCESS),
     (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.IN_PROCESS)),
    ("213", None, (Estado.VIGENTE, Cancelable.WITH_ACCEPTANCE, Cancelacion.REJECTED), None),
    ("204", (Estado.VIGENTE, Cancelable.NOT_CANCELABLE, Cancelacion.NONE),
     (Estado.VIGENTE, Cancelable.NOT_CANCELABLE, Cancelacion.NONE), None),
    ("202", (Estado.CANCELADO, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.DIRECT),
     (Estado.CANCELADO, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.DIRECT), None),
    ("201", (Estado.NO_ENCONTRADO, Cancelable.NOT_CANCELABLE, Cancelacion.NONE),
     (Estado.NO_ENCONTRADO, Cancelable.NOT_CANCELABLE, Cancelacion.NONE), None),
    ("601", None, (Estado.VIGENTE, Cancelable.WITHOUT_ACCEPTANCE, Cancelacion.NONE), None),
])
async def test_the_sat_shows_what_the_provider_sandbox_did_after_the_same_delays(
        client: SatClient, pac: PacClient, sandbox: SandboxPac, code: str,
        before: tuple | None, after: tuple, later: tuple | None) -> None:
    uuid = uuid_with(code, 5)
    if before is not None:
        assert seen(await ask(client, sandbox, uuid)) == before
    await cancel(pac, uuid)
    assert seen(await ask(client, sandbox, uuid)) == after
    if later is not None:
        await asyncio.sleep(0.6)  # the fixture's sandbox resolves after 0.5 s
        assert seen(await ask(client, sandbox, uuid)) == later


async def test_an_invoice_cancelled_outside_the_bot(client: SatClient, pac: PacClient,
                                                     sandbox: SandboxPac) -> None:
    uuid = uuid_with("A11", 9)
    sandbox.state.cancel_elsewhere(uuid)
    assert (await ask(client, sandbox, uuid)).state is Estado.CANCELADO
    (outcome,) = (await pac.cancel([CancelItem(ref=InvoiceRef(uuid=uuid), reason="02")])
                  ).outcomes
    assert outcome.code == "202"  # the provider knows it too: already cancelled


async def test_found_only_when_every_fact_matches(client: SatClient, sandbox: SandboxPac
                                                  ) -> None:
    facts = sandbox.book.issue(CfdiFacts(
        version="4.0", uuid=uuid_with("000", 11), issuer_rfc="EKU9003173C9",
        receiver_rfc="H&E951128469", total="1234.50", currency="MXN",
        issued_at=datetime(2025, 1, 2, 3, 4, 5), type=CfdiType.INGRESO))
    found = await client.status(facts.issuer_rfc, facts.receiver_rfc, "1234.500000",
                                facts.uuid)  # the same amount, written another way
    assert found.found and found.state is Estado.VIGENTE and found.validacion_efos == "200"
    for issuer, receiver, total in [("EKU9003173C9", "H&E951128469", "1234.51"),
                                    ("EKU9003173C9", "URE180429TM6", "1234.50"),
                                    ("URE180429TM6", "H&E951128469", "1234.50")]:
        missing = await client.status(issuer, receiver, total, facts.uuid)
        assert (missing.found, missing.codigo_estatus) == (
            False, "N - 602: Comprobante no encontrado."), (issuer, receiver, total)


async def test_the_stand_in_refuses_what_wcf_refuses(sat: SandboxSat) -> None:
    import httpx

    body = (f'<s:Envelope xmlns:s="{ENV}"><s:Body><c:Consulta xmlns:c="{TEMPURI}">'
            '<expresionImpresa>?re=A&amp;rr=B&amp;tt=1&amp;id=X</expresionImpresa>'
            '</c:Consulta></s:Body></s:Envelope>').encode()
    action = {"SOAPAction": '"http://tempuri.org/IConsultaCFDIService/Consulta"'}
    async with httpx.AsyncClient() as http:
        wrong_type = await http.post(sat.endpoint, content=body,
                                     headers={**action, "Content-Type": "application/soap+xml"})
        wrong_action = await http.post(sat.endpoint, content=body, headers={
            "SOAPAction": '"http://tempuri.org/Other"', "Content-Type": "text/xml"})
        unqualified = await http.post(sat.endpoint, content=body,
                                      headers={**action, "Content-Type": "text/xml"})
    assert wrong_type.status_code == 415
    assert wrong_action.status_code == 500 and b"ActionNotSupported" in wrong_action.content
    assert read(unqualified.content).codigo_estatus.startswith("N - 601")


async def test_a_wrong_action_comes_back_as_a_typed_fault_never_retried(
        sat: SandboxSat, tmp_path: Path) -> None:
    wsdl = tmp_path / "other-action.wsdl"
    wsdl.write_text(SHIPPED_WSDL.read_text(encoding="utf-8").replace(
        'soapAction="http://tempuri.org/IConsultaCFDIService/Consulta"',
        'soapAction="http://tempuri.org/IConsultaCFDIService/Other"'), encoding="utf-8")
    client = SatClient.build(sat.endpoint, retry=FAST_RETRY, wsdl=wsdl)
    with pytest.raises(SatError) as failed:
        await client.status("EKU9003173C9", "XAXX010101000", "1.00", uuid_with("000"))
    await client.aclose()
    assert failed.value.code == "sat_fault" and "ContractFilter" in failed.value.message
    assert not failed.value.retryable and client.calls == 1


async def test_the_sat_down_is_retried_then_a_typed_retryable_error(sat: SandboxSat) -> None:
    sat.down = True
    client = SatClient.build(sat.endpoint, retry=FAST_RETRY)
    with pytest.raises(SatError) as failed:
        await client.status("EKU9003173C9", "XAXX010101000", "1.00", uuid_with("000"))
    await client.aclose()
    assert (failed.value.code, failed.value.retryable) == ("sat_http:503", True)
    assert client.calls == FAST_RETRY.attempts


async def test_an_outage_that_ends_is_ridden_out() -> None:
    with Recorder(LIVE) as server:
        server.answers = [(503, "text/html", b"<html>down</html>"), (200, "text/xml", LIVE)]
        client = SatClient.build(server.base_url + "/x", retry=FAST_RETRY)
        status = await client.status("EKU9003173C9", "XAXX010101000", "1.00", uuid_with("000"))
        await client.aclose()
    assert status.found and client.calls == 2


async def test_a_slow_sat_times_out_as_a_whole(sat: SandboxSat) -> None:
    sat.delay_s = 1.0
    client = SatClient.build(sat.endpoint, timeout_s=0.3,
                             retry=RetryPolicy(attempts=2, initial_s=0.01, max_wait_s=0.02))
    with pytest.raises(SatTimeout):
        await client.status("EKU9003173C9", "XAXX010101000", "1.00", uuid_with("000"))
    await client.aclose()
    assert client.calls == 2


def test_the_address_setting_defaults_to_the_stand_in_and_refuses_nonsense() -> None:
    assert load_settings(_env_file=None).sat_consulta_url == "sandbox"
    with pytest.raises(ConfigError, match="SAT_CONSULTA_URL"):
        load_settings(_env_file=None, sat_consulta_url="consultaqr.sat.gob.mx")
