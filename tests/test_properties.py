"""Property tests (hypothesis) for every parser: whatever arrives, a clean value or a clear
message, never an unhandled exception, never a 500 to Slack."""

from __future__ import annotations

import contextlib
import string
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from bot.i18n import t
from bot.providers.contract import check_email
from bot.providers.solucion_factible.answers import Answer, Result, read
from bot.providers.solucion_factible.client import _cancel_outcomes
from bot.providers.solucion_factible.codes import classify_invoice
from bot.providers.solucion_factible.errors import PacError
from bot.sandbox.stage import FINANCE, Stage
from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Outcome
from bot.sat.refs import BIDI, FOLIO_MAX, ZERO_WIDTH, InvoiceRef
from bot.slack.forms import NOTIFY_MAX, parse_line, validate_cancel, validate_send
from bot.slack.render.kit import RESUBMIT_ACTION, actions, button, messages
from handlers.commands import prefill
from handlers.payloads import value
from storage.export import neutralise

UUIDS = st.uuids().map(lambda u: str(u).upper())
LINES = st.one_of(st.text(max_size=80), UUIDS,
                  st.builds(lambda s, f: f"{s} {f}", st.text(string.ascii_letters, min_size=1,
                                                              max_size=5), st.integers()))
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(LINES)
def test_a_typed_line_is_an_invoice_or_a_message_naming_it(line: str) -> None:
    parsed = parse_line(line, 7, "es")
    assert isinstance(parsed, InvoiceRef) or parsed.startswith("Línea 7")


@FAST
@given(st.lists(LINES, max_size=12), st.sampled_from([None, "01", "02", "03", "04", "xx"]),
       st.one_of(st.none(), st.text(max_size=40), UUIDS), st.text(max_size=1200),
       st.lists(st.text(max_size=8), max_size=30))
def test_the_cancel_form_never_raises(lines: list[str], reason: str | None,
                                      replacement: str | None, justification: str,
                                      notify: list[str]) -> None:
    form, errors = validate_cancel(invoices="\n".join(lines), reason=reason,
                                   replacement=replacement, justification=justification,
                                   notify=notify, limit=10, lang="en", active=lambda keys: [])
    assert (form is None) == bool(errors)
    assert set(errors) <= {"invoices", "reason", "replacement", "justification", "notify"}
    if form is not None:
        assert len(form.notify) <= NOTIFY_MAX and form.justification.strip()


@FAST
@given(st.lists(LINES, max_size=5), st.text(max_size=300), st.text(max_size=250))
def test_the_send_form_never_raises(lines: list[str], recipients: str, subject: str) -> None:
    request, errors = validate_send(invoices="\n".join(lines), recipients=recipients,
                                    subject=subject, message=None, attach_pdf=True, limit=5,
                                    lang="es")
    assert (request is None) == bool(errors)
    if request is not None:
        assert 1 <= len(request.emails) <= 20


@FAST
@given(st.text(max_size=120))
def test_an_email_is_normalised_or_refused_with_its_kind(text: str) -> None:
    try:
        assert "@" in check_email(text)
    except PydanticCustomError as error:
        assert error.type == "invalid_email"


@FAST
@given(st.text(max_size=200))
def test_command_arguments_always_become_lines(text: str) -> None:
    lines = prefill(text).splitlines()
    assert all(line.strip() == line and line for line in lines)


ELEMENT = st.one_of(
    st.fixed_dictionaries({"type": st.just("plain_text_input"),
                           "value": st.one_of(st.none(), st.text(max_size=30))}),
    st.fixed_dictionaries({"type": st.just("static_select"), "selected_option": st.one_of(
        st.none(), st.fixed_dictionaries({"value": st.text(max_size=5)}))}),
    st.fixed_dictionaries({"type": st.just("multi_users_select"), "selected_users": st.one_of(
        st.none(), st.lists(st.text(max_size=8), max_size=3))}),
    st.fixed_dictionaries({"type": st.just("checkboxes"), "selected_options": st.one_of(
        st.none(), st.lists(st.fixed_dictionaries({"value": st.text(max_size=5)}),
                            max_size=2))}),
    st.none())


@FAST
@given(st.dictionaries(st.text(max_size=10), st.one_of(
    st.none(), st.dictionaries(st.text(max_size=5), ELEMENT, max_size=1)), max_size=4),
    st.text(max_size=10))
def test_modal_values_of_any_element_type(values: dict[str, Any], block: str) -> None:
    read = value(values, block)
    assert read is None or isinstance(read, str | list)


SCALAR = st.one_of(st.none(), st.text(max_size=20), st.integers(-5, 999).map(str))


@FAST
@given(SCALAR, SCALAR, st.one_of(st.none(), st.text(max_size=60)), st.integers(0, 999),
       st.booleans())
def test_any_provider_answer_is_classified(estatus: Any, sat: Any, detalle: str | None,
                                           status: int, alone: bool) -> None:
    classified = classify_invoice(estatus, sat, detalle, status, alone=alone)
    assert classified.outcome in Outcome and classified.code
    if str(sat).strip() == "201" and estatus is None and not alone:
        assert classified.outcome is Outcome.PENDING  # "received" is never "cancelled"


RESULT = st.builds(Result, uuid=st.one_of(st.none(), UUIDS, st.text(max_size=20)),
                   serie=st.one_of(st.none(), st.text(max_size=5)),
                   folio=st.one_of(st.none(), st.integers(1, 10**6).map(str)), estatus=SCALAR,
                   estatus_uuid=SCALAR, detalle=st.one_of(st.none(), st.text(max_size=30)))


@FAST
@given(st.lists(UUIDS, min_size=1, max_size=6, unique=True), st.lists(RESULT, max_size=8),
       st.one_of(st.none(), st.text(max_size=40)), st.integers(0, 999))
def test_any_set_of_results_gives_one_outcome_per_invoice(
        uuids: list[str], results: list[Result], acuse: str | None, status: int) -> None:
    chunk = [CancelItem(ref=InvoiceRef(uuid=u), reason="02") for u in uuids]
    answer = Answer(estatus=status, mensaje="x", resultados=results, acuse=acuse)
    outcomes = _cancel_outcomes(chunk, answer)
    assert [o.ref.uuid for o in outcomes] == uuids
    named = {(r.uuid or "").split("|")[0].strip().upper() for r in results}
    if len(uuids) > 1:
        for outcome in outcomes:
            if outcome.ref.uuid not in named and len(results) != len(uuids):
                # An invoice no result names never gets a final state: it is asked again.
                assert outcome.outcome is Outcome.PENDING and outcome.code == "unnamed"


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_answer_body_is_read_or_refused_with_a_typed_error(body: bytes) -> None:
    with contextlib.suppress(PacError):
        read(body, "cancelar", "http://facturacion.erp.solucionfactible.com")


@FAST
@given(st.text(max_size=50))
def test_exported_cells_never_start_a_formula(text: str) -> None:
    assert not str(neutralise(text)).startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db")
    yield opened
    await opened.close()


ENDPOINT = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@ENDPOINT
@given(st.text(max_size=200))
async def test_any_command_text_is_answered_without_a_500(stage: Stage, text: str) -> None:
    answer = await stage.driver.command("U0ANA", text, FINANCE)
    assert answer.status_code == 200
    await stage.settle()


@ENDPOINT
@given(st.text(max_size=300), st.text(max_size=200), st.text(max_size=300))
async def test_any_form_input_is_answered_without_a_500(stage: Stage, invoices: str,
                                                       recipients: str, other: str) -> None:
    for command, fields in (("cancelar", {"invoices": invoices, "reason": "02",
                                          "justification": other, "replacement": other[:36]}),
                            ("enviar", {"invoices": invoices, "recipients": recipients,
                                        "subject": other[:200], "message": other})):
        await stage.driver.command("U0ANA", command, FINANCE)
        await stage.settle()
        answer = await stage.driver.submit_view("U0ANA", stage.driver.last_view(), fields)
        assert answer.status_code == 200
        assert not answer.content or answer.json()["response_action"] == "errors"
        await stage.settle()


# -- what a person types: invisible characters, typos, limits (issue 12, item 14) ---------

HEX = "0123456789ABCDEF"
# UUIDs whose last group is all digits: with a typo they could pass for SERIE-FOLIO.
DIGIT_TAIL_UUIDS = st.builds(
    lambda head, tail: f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-{tail}",
    st.text(HEX, min_size=20, max_size=20), st.text(string.digits, min_size=12, max_size=12))
TYPO_CHARS = st.sampled_from(string.ascii_uppercase + string.digits + "-")


@st.composite
def mistyped_uuids(draw: st.DrawFn) -> str:
    """A UUID with one slip: a character deleted, added or changed, or a space for a hyphen."""
    uuid = draw(st.one_of(UUIDS, DIGIT_TAIL_UUIDS))
    at = draw(st.integers(0, len(uuid) - 1))
    slip = draw(st.sampled_from(["delete", "insert", "replace", "space"]))
    if slip == "delete":
        return uuid[:at] + uuid[at + 1:]
    if slip == "insert":
        return uuid[:at] + draw(TYPO_CHARS) + uuid[at:]
    if slip == "space":
        hyphens = [i for i, c in enumerate(uuid) if c == "-"]
        at = draw(st.sampled_from(hyphens))
        return uuid[:at] + " " + uuid[at + 1:]
    return uuid[:at] + draw(TYPO_CHARS) + uuid[at + 1:]


@FAST
@given(mistyped_uuids())
def test_a_mistyped_uuid_is_never_read_as_a_serie_and_folio(line: str) -> None:
    parsed = parse_line(line, 7, "en")
    if isinstance(parsed, InvoiceRef):
        assert parsed.uuid is not None and parsed.serie is None  # the slip kept it a UUID
    else:
        assert parsed.startswith("Line 7")


@FAST
@given(DIGIT_TAIL_UUIDS, st.integers(0, 11))
def test_a_uuid_one_digit_short_is_called_a_mistyped_uuid(uuid: str, at: int) -> None:
    line = uuid[:24 + at] + uuid[25 + at:]
    assert parse_line(line, 3, "es") == t("error.line", "es", line=3, problem=t(
        "error.line.mistyped_uuid", "es", text=line))


@FAST
@given(UUIDS, st.booleans())
def test_a_braced_uuid_is_a_uuid(uuid: str, lower: bool) -> None:
    typed = "{" + (uuid.lower() if lower else uuid) + "}"
    assert parse_line(typed, 1, "es") == InvoiceRef(uuid=uuid)


@FAST
@given(st.integers(1, FOLIO_MAX), st.integers(FOLIO_MAX + 1, 10**19 - 1))
def test_every_xs_long_folio_is_accepted_and_a_bigger_one_named(folio: int, big: int) -> None:
    assert parse_line(f"FAC {folio}", 1, "es") == InvoiceRef(serie="FAC", folio=folio)
    assert parse_line(f"FAC-{big}", 2, "es") == t("error.line", "es", line=2, problem=t(
        "error.line.folio_too_big", "es", limit=FOLIO_MAX))


INVISIBLE = st.sampled_from(list(ZERO_WIDTH))


@FAST
@given(st.text(string.ascii_uppercase, min_size=1, max_size=5), st.integers(1, 10**9),
       st.lists(st.tuples(st.integers(0, 40), INVISIBLE), min_size=1, max_size=4))
def test_zero_width_characters_never_make_a_different_invoice(
        serie: str, folio: int, hidden: list[tuple[int, str]]) -> None:
    plain = f"{serie} {folio}"
    disguised = plain
    for at, char in hidden:
        disguised = disguised[:at] + char + disguised[at:]
    form, errors = validate_cancel(invoices=f"{plain}\n{disguised}", reason="02",
                                   replacement=None, justification="x", limit=10, lang="es",
                                   active=lambda keys: [])
    assert form is None
    assert errors == {"invoices": t("error.line", "es", line=2, problem=t(
        "error.line.duplicate", "es", first=1))}


def test_nfc_and_nfd_spellings_are_one_invoice() -> None:
    nfc, nfd = "AÑO 7", unicodedata.normalize("NFD", "AÑO 7")
    assert nfc != nfd and parse_line(nfc, 1, "es") == parse_line(nfd, 2, "es")


UNSAFE = st.one_of(st.characters(categories=["Cc"]), st.sampled_from(sorted(BIDI)))


@FAST
@given(st.sampled_from(["FAC 1001", "A123", "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"]),
       st.integers(0, 40), UNSAFE)
def test_a_control_or_direction_character_is_refused_naming_the_line(
        line: str, at: int, char: str) -> None:
    typed_line = line[:at] + char + line[at:]
    if typed_line.strip() == line:
        return  # at an edge, whitespace-like controls (tab, line breaks) are simply trimmed
    assert parse_line(typed_line, 4, "es") == t("error.unsafe_char", "es", line=4,
                                                char=f"U+{ord(char):04X}")


@FAST
@given(st.text(string.whitespace + "\x00\x01\x7f\u200b\u2060\ufeff", max_size=20))
def test_a_justification_of_whitespace_and_controls_is_empty(text: str) -> None:
    _, errors = validate_cancel(invoices="FAC 1", reason="02", replacement=None,
                                justification=text, limit=10, lang="es",
                                active=lambda keys: [])
    assert errors == {"justification": t("error.justification_empty", "es")}


@FAST
@given(st.lists(st.from_regex(r"U0[A-Z0-9]{6}", fullmatch=True), min_size=NOTIFY_MAX + 1,
                max_size=1000, unique=True))
def test_people_to_notify_are_capped(people: list[str]) -> None:
    _, errors = validate_cancel(invoices="FAC 1", reason="02", replacement=None,
                                justification="x", notify=people, limit=10, lang="en",
                                active=lambda keys: [])
    assert errors == {"notify": t("error.too_many_notify", "en", count=len(people),
                                  limit=NOTIFY_MAX)}


@FAST
@given(st.text(string.ascii_letters, min_size=1, max_size=20),
       st.sampled_from(["\n", "\r", "\r\n"]), st.text(string.ascii_letters, min_size=1,
                                                      max_size=20))
def test_a_subject_is_one_line(before: str, newline: str, after: str) -> None:
    _, errors = validate_send(invoices="3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B",
                              recipients="a@example.com",
                              subject=before + newline + after, message=None,
                              attach_pdf=False, limit=5, lang="es")
    assert errors == {"subject": t("error.subject_one_line", "es")}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(string.ascii_letters + " `*_", min_size=1, max_size=3500),
                min_size=1, max_size=300),
       st.booleans(), st.booleans())
def test_a_reply_of_any_length_is_split_keeping_every_line(
        lines: list[str], sandbox: bool, retry: bool) -> None:
    """Every line in some message, each within Slack's 50 blocks and 3,000 characters a
    section, the sandbox banner closing each, the Retry button on the last one only."""
    extra = [actions("resubmit", [button("Reintentar", RESUBMIT_ACTION, "1")])] if retry \
        else []
    payloads = messages("\n".join(lines), sandbox=sandbox, lang="es", extra=extra)
    shown = []
    for number, payload in enumerate(payloads, start=1):
        blocks = payload["blocks"]
        assert 0 < len(blocks) <= 50 and 0 < len(payload["text"]) <= 3000
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        if sandbox:
            assert blocks[-1]["type"] == "context"
            assert blocks[-1]["elements"][0]["text"] == t("sandbox.banner", "es")
        has_button = any(b["type"] == "actions" for b in blocks)
        assert has_button == (retry and number == len(payloads))
        shown += [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "\n".join(shown).split("\n") == [line[:2999] for line in lines]
