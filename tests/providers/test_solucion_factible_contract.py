"""Solución Factible's real CFDI33 contract, checked on the wire: the exact requests the bot
sends (as production clients of this service send them), answers in both spellings of the
provider's pages and wire, the start-up check of the loaded WSDL, and what the sandbox
refuses as the real (JAX-WS) service would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from lxml import etree

from bot.providers.solucion_factible.answers import read
from bot.providers.solucion_factible.client import PacClient
from bot.providers.solucion_factible.errors import PacContractError, PacMalformedResponse
from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL
from bot.sandbox.pac_server import SandboxPac
from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Nuance, Outcome
from bot.sat.refs import InvoiceRef
from storage.store import AuditStore
from tests.helpers import ENV, FAST_RETRY, LOGIN, NS, Scripted, cli, post, uuid_with

UUID, OTHER = uuid_with("000", 1), uuid_with("000", 2)


def sent(sandbox: SandboxPac) -> etree._Element:
    """The operation element of the last request the sandbox received."""
    return etree.fromstring(sandbox.last_request).find(f"{{{ENV}}}Body")[0]


def items_of(request: etree._Element) -> list[dict[str, str]]:
    return [{child.tag: child.text for child in item}
            for item in request.findall("solicitudesCancelacion")]


@pytest.mark.parametrize(("ref", "reason", "replacement", "expected"), [
    # By UUID: the reason in the pipe, as Odoo's and the 2025 page's `UUID|02|`.
    (UUID, "02", None, {"uuid": f"{UUID}|02|"}),
    # By serie + folio: `|02|` with folio and serie, as the production NetSuite code sends.
    ("FAC 1234", "02", None, {"uuid": "|02|", "folio": "1234", "serie": "FAC"}),
    # Reason 01 with the replacement's UUID.
    (UUID, "01", OTHER, {"uuid": f"{UUID}|01|{OTHER}"}),
    # Reason 01 for an invoice named by serie + folio, replacement by UUID.
    ("FAC 1234", "01", OTHER, {"uuid": f"|01|{OTHER}", "folio": "1234", "serie": "FAC"}),
    # Reason 01 with the replacement named by its folio and serie (the 2025 page).
    (UUID, "01", "FAC-1235", {"uuid": f"{UUID}|01||1235|FAC"}),
])
async def test_the_request_on_the_wire(pac: PacClient, sandbox: SandboxPac, ref: str,
                                       reason: str, replacement: str | None,
                                       expected: dict[str, str]) -> None:
    await pac.cancel([CancelItem(ref=InvoiceRef.parse(ref), reason=reason,
                                 replacement=replacement)])
    request = sent(sandbox)
    assert request.tag == f"{{{NS}}}cancelar"
    assert [child.tag for child in request] == ["usuario", "password",
                                                "solicitudesCancelacion"]  # unqualified
    assert items_of(request) == [expected]
    assert b"motivoCancelacion" not in sandbox.last_request


def test_a_zeep_client_knowing_only_the_wsdl_address_reads_estatus_and_resultados(
        sandbox: SandboxPac) -> None:
    client = zeep.Client(sandbox.wsdl_url)
    answer = client.service.cancelar(usuario="sandbox", password="sandbox",
                                     solicitudesCancelacion=[{"uuid": f"{UUID}|02|"}])
    assert answer.estatus == "201"
    assert [(r.uuid, r.estatusUUID) for r in answer.resultados] == [(UUID, "201")]
    again = client.service.cancelar(usuario="sandbox", password="sandbox",
                                    solicitudesCancelacion=[{"uuid": f"{UUID}|02|"}])
    assert again.estatus == "202"  # asked again: the direct cancellation went through


WIRE = (b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        b'<ns2:cancelarResponse xmlns:ns2="http://facturacion.erp.solucionfactible.com">'
        b'<return><estatus>201</estatus><mensaje>ok</mensaje><resultados><detalle>d</detalle>'
        b'<estatusUUID>202</estatusUUID><uuid>U1</uuid></resultados><acuseSAT>QQ==</acuseSAT>'
        b'</return></ns2:cancelarResponse></S:Body></S:Envelope>')
# The page tables' spelling: `status` as xs:int, `resultadosCancelacion`, children qualified
# and in another order.
PAGE = (b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        b'<f:cancelarResponse xmlns:f="http://facturacion.erp.solucionfactible.com"><f:return>'
        b'<f:acuseSAT>QQ==</f:acuseSAT><f:resultadosCancelacion><f:uuid>U1</f:uuid>'
        b'<f:estatusUUID>202</f:estatusUUID><f:detalle>d</f:detalle></f:resultadosCancelacion>'
        b'<f:mensaje>ok</f:mensaje><f:status> 201 </f:status></f:return></f:cancelarResponse>'
        b'</S:Body></S:Envelope>')


def test_answers_are_read_in_either_spelling() -> None:
    wire, page = read(WIRE, "cancelar", NS), read(PAGE, "cancelar", NS)
    assert wire == page
    assert (wire.estatus, wire.mensaje, wire.acuse) == (201, "ok", "QQ==")
    assert [(r.uuid, r.estatus_uuid, r.detalle) for r in wire.resultados] == [("U1", "202", "d")]


def test_an_answer_in_another_namespace_is_malformed() -> None:
    other = WIRE.replace(NS.encode(), b"http://cfdi.ws.erp.f.s")
    with pytest.raises(PacMalformedResponse, match="wrong namespace"):
        read(other, "cancelar", NS)


def page_wsdl(tmp_path: Path, drop: str | None = None) -> Path:
    """A WSDL spelled as the provider's page tables (status xs:int, resultadosCancelacion,
    motivoCancelacion inside each item), optionally without one element."""
    text = SHIPPED_WSDL.read_text(encoding="utf-8")
    text = text.replace('<xs:element name="estatus" type="xs:string" minOccurs="0"/>\n'
                        '          <xs:element name="mensaje" type="xs:string" minOccurs="0"/>\n'
                        '          <xs:element name="resultados"',
                        '<xs:element name="status" type="xs:int" minOccurs="0"/>\n'
                        '          <xs:element name="mensaje" type="xs:string" minOccurs="0"/>\n'
                        '          <xs:element name="resultadosCancelacion"')
    text = text.replace('<xs:element name="uuid" type="xs:string" minOccurs="0"/>\n'
                        '        </xs:sequence>\n      </xs:complexType>\n\n'
                        '      <xs:complexType name="cancelarResponse">',
                        '<xs:element name="uuid" type="xs:string" minOccurs="0"/>\n'
                        '          <xs:element name="motivoCancelacion" type="xs:string" '
                        'minOccurs="0"/>\n        </xs:sequence>\n      </xs:complexType>\n\n'
                        '      <xs:complexType name="cancelarResponse">')
    assert "resultadosCancelacion" in text and "motivoCancelacion" in text
    if drop:
        text = re.sub(rf'\s*<xs:element name="{drop}"[^>]*/>', "", text, count=1)
    path = tmp_path / "provider.wsdl"
    path.write_text(text, encoding="utf-8")
    return path




@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted(WIRE)
    with server:
        yield server


async def test_the_providers_own_wsdl_spelling_works_without_a_code_change(
        tmp_path: Path, scripted: Scripted) -> None:
    scripted.bodies = [PAGE.replace(b"U1", UUID.encode())]
    client = PacClient.build(str(page_wsdl(tmp_path)), scripted.base_url + "/x",
                             usuario="u", password="p", retry=FAST_RETRY)
    result = await client.cancel([CancelItem(ref=InvoiceRef(uuid=UUID), reason="03")])
    await client.aclose()
    assert result.outcomes[0].outcome is Outcome.ALREADY_CANCELED
    # This WSDL declares motivoCancelacion in each item: sent there too, and in the pipe.
    item = etree.fromstring(scripted.requests[0]).find(f"{{{ENV}}}Body")[0][2]
    assert {child.tag: child.text for child in item} == {
        "uuid": f"{UUID}|03|", "motivoCancelacion": "03"}


def test_the_start_refuses_a_wsdl_without_an_element(tmp_path: Path) -> None:
    with pytest.raises(PacContractError) as refused:
        PacClient.build(str(page_wsdl(tmp_path, drop="estatusUUID")), "http://127.0.0.1:9/",
                        usuario="u", password="p")
    (problem,) = refused.value.problems
    assert problem == ("The provider's WSDL has no `estatusUUID` in the answer to cancelar "
                       "› return › resultadosCancelacion; its type resultadoCancelacion has: "
                       "detalle, folio, serie, uuid.")




def test_provider_check_passes_against_the_sandbox_live() -> None:
    done = cli("provider", "check", "--live")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ cancelar sends solicitudesCancelacion › uuid" in done.stdout
    assert "E329DD15-7D0B-44E9-A204-51A7443D1FBE: code 204" in done.stdout
    assert "C5E58106-6C1E-41C9-A211-FB8BAD1CABB0: code 211" in done.stdout
    assert "✓ The provider has everything the bot needs." in done.stdout


def test_provider_check_and_run_name_the_missing_element(tmp_path: Path) -> None:
    wsdl = str(page_wsdl(tmp_path, drop="cuerpo"))
    done = cli("provider", "check", CFDI_WSDL=wsdl)
    assert done.returncode == 1
    assert "no `cuerpo` in the request to enviar › solicitudEnvio; its type solicitudEnvio " \
           "has: asunto, email, enviarPDF, uuid." in done.stdout
    # The real provider's WSDL is checked before Slack is asked anything.
    run = cli("run", CFDI_WSDL=wsdl, CFDI_ENDPOINT="https://pac.example/ws",
              SLACK_BOT_TOKEN="xoxb-1-2-abc",
              SLACK_SIGNING_SECRET="s" * 32, APPROVALS_CHANNEL="C0APROB",
              APPROVERS="U0BETO", AUDIT_DB=str(tmp_path / "a.db"))
    assert run.returncode == 2 and "no `cuerpo`" in run.stderr
    assert "Traceback" not in run.stderr




CANCELAR = f'<f:cancelar xmlns:f="{NS}">{{inner}}</f:cancelar>'


@pytest.mark.parametrize(("operation", "inner", "code", "words"), [
    (CANCELAR, f"<f:usuario>sandbox</f:usuario><password>sandbox</password>"
     f"<solicitudesCancelacion><uuid>{UUID}|02|</uuid></solicitudesCancelacion>",
     "611", "usuario"),                                   # a qualified child is not seen
    (CANCELAR, f"{LOGIN}<solicitudesCancelacion><uuid>{UUID}</uuid></solicitudesCancelacion>",
     "611", "motivo"),                                    # no reason in the pipe
    (CANCELAR, f"{LOGIN}<solicitudesCancelacion><uuid>{UUID}|05|</uuid>"
     "</solicitudesCancelacion>", "621", "05"),
    (CANCELAR, f"{LOGIN}<solicitudesCancelacion><uuid>{UUID}|01|</uuid>"
     "</solicitudesCancelacion>", "611", "UUIDSustituye"),  # 01 without its replacement
    (CANCELAR, f"{LOGIN}<solicitudesCancelacion><uuid>|02|</uuid></solicitudesCancelacion>",
     "611", "folio"),
])
async def test_the_sandbox_refuses_what_the_real_service_refuses(
        sandbox: SandboxPac, operation: str, inner: str, code: str, words: str) -> None:
    answer = await post(sandbox, operation, inner)
    got = read(answer.content, "cancelar", NS)
    assert (str(got.estatus), words in (got.mensaje or "")) == (code, True), got


async def test_a_wrapper_in_another_namespace_or_a_bad_folio_is_a_soap_fault(
        sandbox: SandboxPac) -> None:
    other = await post(sandbox, '<f:cancelar xmlns:f="http://ws.cfdi33.cfdibot/">{inner}'
                       '</f:cancelar>', LOGIN)
    assert other.status_code == 500 and b"Cannot find dispatch method" in other.content
    folio = await post(sandbox, CANCELAR, f"{LOGIN}<solicitudesCancelacion><folio>abc</folio>"
                       "<serie>A</serie><uuid>|02|</uuid></solicitudesCancelacion>")
    assert folio.status_code == 500 and b"Unmarshalling Error" in folio.content


async def test_an_invoice_the_answers_never_name_ends_unknown_not_cancelled(
        store: AuditStore, scripted: Scripted) -> None:
    from bot.actors import Actor
    from bot.workflow.answers import recheck_pending, submit
    from bot.workflow.transitions import approve, create_cancel_request
    from storage import queries

    first, second = uuid_with("000", 1), uuid_with("000", 2)
    # Two invoices asked; the answer names another invoice only.
    scripted.bodies = [WIRE.replace(b"U1", uuid_with("000", 9).encode())]
    client = PacClient.build(str(SHIPPED_WSDL), scripted.base_url + "/x", usuario="u",
                             password="p", retry=FAST_RETRY)
    ana, beto = Actor("U0ANA", "Ana"), Actor("U0BETO", "Beto")
    request_id = await create_cancel_request(store, ana, [InvoiceRef(uuid=first),
                                                          InvoiceRef(uuid=second)],
                                             reason="02", justification="x")
    await approve(store, request_id, beto, required=1)
    await submit(store, client, request_id, beto, backoff_s=(0,))
    invoices = queries.request_invoices(store, request_id)
    assert [(i["status"], i["code"]) for i in invoices] == [("pending", "unnamed")] * 2
    for _ in range(2):
        await recheck_pending(store, client, backoff_s=(0,))
    invoices = queries.request_invoices(store, request_id)
    assert [i["status"] for i in invoices] == ["unknown", "unknown"]
    assert queries.get_request(store, request_id)["status"] == "completed"
    await client.aclose()


def test_outcomes_pair_by_position_only_when_nothing_is_named() -> None:
    from bot.providers.solucion_factible.answers import Answer, Result
    from bot.providers.solucion_factible.client import _cancel_outcomes

    chunk = [CancelItem(ref=InvoiceRef(uuid=u), reason="02") for u in (UUID, OTHER)]
    anonymous = Answer(201, "m", [Result(estatus_uuid="202"), Result(estatus_uuid="204")])
    assert [o.outcome for o in _cancel_outcomes(chunk, anonymous)] == [
        Outcome.ALREADY_CANCELED, Outcome.NOT_CANCELABLE]
    one_short = Answer(201, "m", [Result(estatus_uuid="202")])
    assert [o.nuance for o in _cancel_outcomes(chunk, one_short)] == [Nuance.UNNAMED] * 2
    empty = Answer(200, "m", [])
    assert [o.outcome for o in _cancel_outcomes(chunk, empty)] == [Outcome.PENDING] * 2

