"""The zeep client against the sandbox provider, over real HTTP, for every documented outcome."""

from __future__ import annotations

import asyncio
import math
import socket

import httpx
import pytest

from bot.providers.contract import SendRequest, StatusClass
from bot.providers.solucion_factible.client import PacClient, RetryPolicy
from bot.providers.solucion_factible.errors import (
    PacConnectionError,
    PacHTTPError,
    PacMalformedResponse,
    PacOperationError,
    PacSoapFault,
    PacTimeout,
)
from bot.sandbox.pac_server import SandboxPac
from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Nuance, Outcome, nuance_of
from bot.sat.refs import InvoiceRef
from tests.helpers import FAST_RETRY, uuid_with

SEED_204 = ["E329DD15-7D0B-44E9-A204-51A7443D1FBE", "5B4B180D-5B6C-4392-B204-252215A1AB84",
            "51D8A114-2BA6-40B8-C204-B9721791863B", "1BCA95C3-DA01-44C2-D204-59A9114F94BE",
            "F4621025-0864-4E62-E204-59EE41B1101E"]
SEED_211 = ["C5E58106-6C1E-41C9-A211-FB8BAD1CABB0", "38FB9AC9-DD3E-4601-B211-EB02C007C3BA",
            "CB917CA9-60D3-4A81-C211-76BD1A6B756D", "7C34D543-E6C9-4990-D211-3F767E0B5142",
            "0D62B12C-BC6C-4626-E211-FC8FE727A5BC"]


def item(ref: str, reason: str = "02", replacement: str | None = None) -> CancelItem:
    return CancelItem(ref=InvoiceRef.parse(ref), reason=reason, replacement=replacement)


async def test_the_seed_test_uuids_answer_exactly_as_documented(pac: PacClient) -> None:
    # Asked one by one, as the provider's test page does: 204 and 211 at the call's level.
    result = await pac.cancel([item(u) for u in SEED_204 + SEED_211], one_per_call=True)
    assert [o.outcome for o in result.outcomes] == [Outcome.NOT_CANCELABLE] * 5 + \
        [Outcome.PENDING] * 5
    assert [o.code for o in result.outcomes] == ["204"] * 5 + ["211"] * 5
    assert [o.ref.uuid for o in result.outcomes] == SEED_204 + SEED_211


@pytest.mark.parametrize(("code", "outcome", "estatus_uuid"), [
    ("000", Outcome.PENDING, "201"),   # received by the SAT: never "cancelled" yet
    ("202", Outcome.ALREADY_CANCELED, "202"),
    ("204", Outcome.NOT_CANCELABLE, "204"),
    ("201", Outcome.FAILED, "205"),
    ("211", Outcome.PENDING, "201"),
    ("213", Outcome.DENIED, "201"),
])
async def test_every_fixed_outcome_is_classified(pac: PacClient, code: str, outcome: Outcome,
                                                 estatus_uuid: str | None) -> None:
    result = await pac.cancel([item(uuid_with(code))])
    (answer,) = result.outcomes
    assert answer.outcome is outcome
    assert answer.estatus_uuid == estatus_uuid
    assert answer.detalle  # the provider's own words are kept
    if code == "201":
        assert "205" in answer.detalle


async def test_acuse_is_decoded_xml_naming_the_invoice(pac: PacClient) -> None:
    uuid = uuid_with("000")
    (answer,) = (await pac.cancel([item(uuid)])).outcomes
    assert answer.acuse is not None and answer.acuse.startswith("<?xml")
    assert f"<UUID>{uuid}</UUID>" in answer.acuse


@pytest.mark.parametrize(("code", "waiting", "final", "final_nuance"), [
    ("A11", Nuance.AWAITING_RECEIVER, Outcome.ALREADY_CANCELED, Nuance.ACCEPTED_BY_RECEIVER),
    ("B11", Nuance.AWAITING_RECEIVER, Outcome.DENIED, None),
    ("C11", Nuance.AWAITING_RECEIVER, Outcome.ALREADY_CANCELED, Nuance.ACCEPTED_BY_SILENCE),
    ("D11", Nuance.NOT_DELIVERED, Outcome.ALREADY_CANCELED, Nuance.WITHOUT_ACCEPTANCE),
])
async def test_pending_cancellations_resolve_after_the_delay(
        pac: PacClient, code: str, waiting: Nuance, final: Outcome, final_nuance: Nuance | None
) -> None:
    ref = uuid_with(code)
    (first,) = (await pac.cancel([item(ref)])).outcomes
    assert (first.outcome, first.nuance) == (Outcome.PENDING, waiting)
    await asyncio.sleep(0.6)  # the fixture's sandbox resolves after 0.5 s
    (later,) = (await pac.cancel([item(ref)])).outcomes
    # Asked again, "previously cancelled" (202): the use cases read it as our cancellation
    # gone through; the SAT's wording says how.
    assert later.outcome is final
    assert nuance_of(later.detalle, Outcome.CANCELED) == final_nuance


async def test_serie_and_folio_lookups(pac: PacClient) -> None:
    result = await pac.cancel([item("FAC 1001"), item("B-7204"), item("X9211")])
    assert [(o.ref.key, o.outcome) for o in result.outcomes] == [
        ("FAC-1001", Outcome.PENDING), ("B-7204", Outcome.NOT_CANCELABLE),
        ("X-9211", Outcome.PENDING)]
    assert [o.nuance for o in result.outcomes] == [Nuance.RECEIVED, None, Nuance.RECEIVED]


async def test_a_replacement_travels_inside_uuid_as_the_provider_expects(
        pac: PacClient, sandbox: SandboxPac) -> None:
    cancelled, replacing = uuid_with("000", 1), uuid_with("000", 2)
    result = await pac.cancel([item(cancelled, "01", replacing)])
    assert result.outcomes[0].outcome is Outcome.PENDING
    wire = sandbox.last_request.decode()
    assert f"<uuid>{cancelled}|01|{replacing}</uuid>" in wire
    assert "motivoCancelacion" not in wire  # the shipped WSDL declares none


@pytest.mark.parametrize(("count", "batch"), [(7, 3), (6, 3), (1, 50), (120, 50)])
async def test_batches_make_ceil_n_over_batch_calls_and_keep_the_order(
        sandbox: SandboxPac, count: int, batch: int) -> None:
    client = PacClient.build(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                             password="sandbox", batch_size=batch, retry=FAST_RETRY)
    codes = ["000", "204", "202", "211"]
    refs = [uuid_with(codes[i % 4], i + 1) for i in range(count)]
    result = await client.cancel([item(r) for r in reversed(refs)])
    await client.aclose()
    assert result.calls == sandbox.calls["cancelar"] == math.ceil(count / batch)
    assert [o.ref.uuid for o in result.outcomes] == list(reversed(refs))
    expected = {"000": Outcome.PENDING, "204": Outcome.NOT_CANCELABLE,
                "202": Outcome.ALREADY_CANCELED, "211": Outcome.PENDING}
    assert [o.outcome for o in result.outcomes] == [
        expected[codes[(count - 1 - i) % 4]] for i in range(count)]


@pytest.mark.parametrize("code", ["500", "501", "503"])
async def test_transient_errors_are_retried_then_succeed(pac: PacClient, code: str) -> None:
    result = await pac.cancel([item(uuid_with(code))])
    assert result.error is None
    assert result.outcomes[0].outcome is Outcome.PENDING  # received
    assert result.calls == 3  # two failures (the sandbox's setting), then success


async def test_retries_exhausted_end_in_a_typed_retry_error(sandbox: SandboxPac,
                                                            pac: PacClient) -> None:
    sandbox.state.transient_failures = 99
    result = await pac.cancel([item(uuid_with("503"))])
    assert isinstance(result.error, PacOperationError)
    assert result.error.status == 503 and result.error.retryable
    assert result.calls == FAST_RETRY.attempts
    assert result.outcomes[0].outcome is Outcome.FAILED
    assert result.outcomes[0].error_class is StatusClass.RETRY


async def test_a_slow_answer_times_out_as_a_whole(sandbox: SandboxPac) -> None:
    client = PacClient.build(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                             password="sandbox", timeout_s=0.3,
                             retry=RetryPolicy(attempts=2, initial_s=0.01, max_wait_s=0.01))
    result = await client.cancel([item(uuid_with("900"))])
    await client.aclose()
    assert isinstance(result.error, PacTimeout)
    assert "0.3 s" in str(result.error)
    assert result.calls == 2  # a timed-out cancel is retried: cancelling twice is safe


async def test_a_slow_answer_within_the_timeout_succeeds(pac: PacClient) -> None:
    result = await pac.cancel([item(uuid_with("900"))])
    assert result.outcomes[0].outcome is Outcome.PENDING and result.error is None


@pytest.mark.parametrize(("code", "error_type", "retried"), [
    ("9F0", PacSoapFault, False),
    ("9F1", PacHTTPError, True),
    ("9F2", PacMalformedResponse, False),
    ("9F3", PacMalformedResponse, False),
])
async def test_broken_answers_become_typed_errors(pac: PacClient, code: str,
                                                  error_type: type, retried: bool) -> None:
    result = await pac.cancel([item(uuid_with(code))])
    assert type(result.error) is error_type
    assert result.calls == (FAST_RETRY.attempts if retried else 1)
    assert result.outcomes[0].outcome is Outcome.FAILED
    assert result.outcomes[0].detalle == result.error.message


async def test_connection_refused_is_retried_then_typed(sandbox: SandboxPac) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = PacClient.build(sandbox.wsdl_url, f"http://127.0.0.1:{closed_port}/ERPWebServices/soap/CFDI33",
                             usuario="sandbox", password="sandbox", retry=FAST_RETRY)
    result = await client.cancel([item(uuid_with("000"))])
    await client.aclose()
    assert isinstance(result.error, PacConnectionError)
    assert result.calls == FAST_RETRY.attempts


async def test_wrong_credentials_are_not_retried_and_stop_later_batches(
        sandbox: SandboxPac) -> None:
    client = PacClient.build(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                             password="not-the-password", batch_size=2, retry=FAST_RETRY)
    result = await client.cancel([item(uuid_with("000", i)) for i in range(1, 6)])
    await client.aclose()
    assert isinstance(result.error, PacOperationError) and result.error.status == 601
    assert result.error.status_class is StatusClass.CREDENTIALS
    assert result.calls == 1  # no retry, and no call for the two later batches
    assert all(o.outcome is Outcome.FAILED and o.code == "601" for o in result.outcomes)


@pytest.mark.parametrize(("code", "klass"), [
    ("601", StatusClass.CREDENTIALS), ("604", StatusClass.CREDENTIALS),
    ("626", StatusClass.CONFIGURATION), ("630", StatusClass.CONFIGURATION),
    ("623", StatusClass.FINAL), ("611", StatusClass.FINAL),
])
async def test_operation_error_codes_are_classified(pac: PacClient, code: str,
                                                    klass: StatusClass) -> None:
    result = await pac.cancel([item(uuid_with(code))])
    assert isinstance(result.error, PacOperationError)
    assert (result.error.status, result.error.status_class) == (int(code), klass)
    assert result.calls == 1


async def test_the_wsdl_can_be_read_over_http_and_its_address_is_the_sandbox(
        sandbox: SandboxPac) -> None:
    async with httpx.AsyncClient() as http:
        wsdl = (await http.get(sandbox.wsdl_url)).text
    assert f'location="{sandbox.endpoint}"' in wsdl
    client = PacClient.build(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                             password="sandbox")
    assert (await client.cancel([item(uuid_with("000"))])).outcomes[0].outcome is Outcome.PENDING
    await client.aclose()


async def test_send_to_every_contact(pac: PacClient, sandbox: SandboxPac) -> None:
    first, second = uuid_with("000", 1), uuid_with("000", 2)
    request = SendRequest(refs=[InvoiceRef.parse(first), InvoiceRef.parse(second)],
                          emails=["a@example.com", "b@example.com"], subject="Factura")
    result = await pac.send(request)
    assert result.status == 200 and result.error is None and result.calls == 1
    assert [(o.ref.key, o.email, o.outcome) for o in result.outcomes] == [
        (first, "a@example.com", Outcome.SENT), (first, "b@example.com", Outcome.SENT),
        (second, "a@example.com", Outcome.SENT), (second, "b@example.com", Outcome.SENT)]
    assert len(sandbox.sent) == 4


async def test_a_send_the_provider_refuses_is_failed_with_its_words_and_not_retried(
        pac: PacClient, sandbox: SandboxPac) -> None:
    request = SendRequest(refs=[InvoiceRef.parse(uuid_with("000"))],
                          emails=["ok@example.com", "falla@example.com"])
    result = await pac.send(request)
    assert isinstance(result.error, PacOperationError) and result.status == 500
    assert [o.outcome for o in result.outcomes] == [Outcome.FAILED, Outcome.FAILED]
    assert result.outcomes[0].code == "send:500"
    assert "no se pudo entregar el correo" in (result.outcomes[0].detalle or "")
    assert result.calls == 1 and sandbox.sent == []


async def test_a_send_that_times_out_is_unknown_and_not_retried(sandbox: SandboxPac) -> None:
    client = PacClient.build(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                             password="sandbox", timeout_s=0.3, retry=FAST_RETRY)
    result = await client.send(SendRequest(refs=[InvoiceRef.parse(uuid_with("900"))],
                                           emails=["a@example.com"]))
    await client.aclose()
    assert isinstance(result.error, PacTimeout)
    assert result.calls == 1
    # The provider may have mailed it: nobody can say "failed", nor send it again blindly.
    assert all(o.outcome is Outcome.UNKNOWN for o in result.outcomes)


async def test_each_provider_call_costs_no_search_for_a_missing_module(
        pac: PacClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore imports sniffio on every request and, when it is not installed, each failed
    import searches every folder of sys.path (encode/httpcore#1103; it was 5% of the bot's
    CPU under load). It is a dependency, so the import is answered from sys.modules."""
    import importlib.machinery
    import sys

    searched: list[str] = []

    class Spy(importlib.machinery.PathFinder):
        """Records every module the import system searches for (none should be, once warm)."""
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            searched.append(name)
            return None

    monkeypatch.setattr(sys, "meta_path", [Spy, *sys.meta_path])
    for _ in range(3):
        await pac.cancel([CancelItem(ref=InvoiceRef.from_key(uuid_with("211")), reason="02")])
    assert searched == []
