"""APPROVAL_RULES end to end through the stand-ins: a request's MXN total, its SAT reason or
its customer's RFC raises the distinct approvers it needs, the card names the rule, the
strictest rule holds until the invoices are known, and each approval's event names the facts
it was made on (shown by `audit export`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal

import pytest

from bot.approval_rules import Basis, ReasonRule, Requirement, RfcRule, TotalRule
from bot.config import ConfigError, load_settings
from bot.sandbox.invoices import cfdi_xml
from bot.sandbox.slack_records import Message
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.sat.cfdi import CfdiFacts, CfdiType
from bot.sat.reasons import CancelReason
from bot.workflow.rules import ApprovalRules, case_of, request_amount, weigh
from storage import queries
from tests.helpers import ask_with_files, card_of, click, request_row, texts, uuid_with

RULES = {"approval_rules": "total>=100000:2,total>=1000000:3"}


def priced(stage: Stage, seed: int, total: str, currency: str = "MXN",
           rate: str | None = None) -> str:
    """A sandbox invoice (cancelled at once) of this total."""
    uuid = uuid_with("000", seed)
    facts = stage.pac.book.get(uuid)
    stage.pac.book.issue(facts.model_copy(update={
        "total": total, "currency": currency, "exchange_rate": rate,
        "receiver_rfc": "URE180429TM6", "type": CfdiType.INGRESO}))
    return uuid


def card_now(stage: Stage) -> str:
    return texts(stage.slack.channel_messages(APPROVALS)[-1])


def thread_now(stage: Stage) -> str:
    card = stage.slack.channel_messages(APPROVALS)[0]
    return "\n".join(texts(m) for m in stage.slack.thread(APPROVALS, card.ts))


async def card_before_facts(stage: Stage, uuid: str) -> Message:
    """Ana asks to cancel `uuid`; the card as posted, before its facts arrive (a second
    later: the SAT stand-in is slowed down)."""
    assert stage.sat is not None
    stage.sat.delay_s = 1.0
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    values = {"invoices": uuid, "reason": "02", "justification": "Factura duplicada"}
    await stage.driver.submit_view("U0ANA", stage.driver.last_view(), values)
    for _ in range(200):  # the card is out; its facts are not
        if stage.slack.channel_messages(APPROVALS):
            break
        await asyncio.sleep(0.01)
    return stage.slack.channel_messages(APPROVALS)[-1]


def events(stage: Stage, action: str) -> list[dict]:
    return [e for e in queries.events(stage.runtime.store) if e["action"] == action]


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_an_amount_rule_raises_the_approvals_needed(stage: Stage) -> None:
    uuid = priced(stage, 1, "150000.00")
    card = await card_of(stage, lines=[uuid])
    assert request_row(stage)["approvals_required"] == 2
    assert "Regla: total ≥ $100,000 MXN → 2 aprobaciones (esta solicitud: $150,000 MXN)" \
        in card_now(stage)
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "awaiting_approval"
    assert "👍 Aprobaciones: <@U0BETO> (1 de 2)" in card_now(stage)
    await click(stage, "U0BETO", card)  # the same person twice is still one approver
    assert request_row(stage)["status"] == "awaiting_approval"
    await click(stage, "U0CARLA", card)  # a second, distinct approver completes it
    assert request_row(stage)["status"] in ("submitted", "completed")
    assert stage.pac.calls["cancelar"] >= 1 and len(events(stage, "request_approved")) == 1
    assert "Regla: total ≥ $100,000 MXN → 2 aprobaciones" in card_now(stage)


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_below_every_rule_one_approval_is_enough(stage: Stage) -> None:
    card = await card_of(stage, lines=[priced(stage, 2, "40000.00"),
                                       priced(stage, 3, "50000.00")])
    assert request_row(stage)["approvals_required"] == 1
    assert "Regla: ninguna regla pide más → 1 aprobación (esta solicitud: " \
        "$90,000 MXN)" in card_now(stage)
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] in ("submitted", "completed")


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_the_sum_of_the_invoices_counts_and_a_foreign_total_at_its_rate(
        stage: Stage) -> None:
    await card_of(stage, lines=[priced(stage, 4, "600000.00"),
                                priced(stage, 5, "25000.00", "USD", "18.50")])
    assert request_row(stage)["approvals_required"] == 3  # 600,000 + 462,500 MXN
    assert "Regla: total ≥ $1,000,000 MXN → 3 aprobaciones (esta solicitud: " \
        "$1,062,500 MXN)" in card_now(stage)


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_an_amount_the_bot_cannot_compare_keeps_the_strictest_rule(
        stage: Stage) -> None:
    await card_of(stage, lines=[priced(stage, 6, "10.00", "USD")])  # no exchange rate
    assert request_row(stage)["approvals_required"] == 3
    assert "Regla: total ≥ $1,000,000 MXN → 3 aprobaciones, la más estricta: el importe no " \
        "se pudo saber en MXN" in card_now(stage)
    (applied,) = events(stage, "approval_rule_applied")
    assert json.loads(applied["details"])["basis"] == "uncomparable"


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_an_approval_before_the_amount_is_known_counts_once_it_is(stage: Stage) -> None:
    card = await card_before_facts(stage, priced(stage, 7, "500.00"))
    assert "la más estricta, mientras no se conozca el importe" in texts(card)
    assert request_row(stage)["approvals_required"] == 3
    await click(stage, "U0BETO", card)  # counted under the strictest rule, then enough
    (decision,) = events(stage, "decision_approve")
    seen = json.loads(decision["details"])
    assert seen["approvals_required"] == 3 and seen["facts"][0]["event"] is None
    assert request_row(stage)["status"] in ("submitted", "completed")
    assert "las aprobaciones dadas bastan (la última, de <@U0BETO>)" in thread_now(stage)


async def test_the_approval_event_carries_the_facts_and_audit_export_shows_it(
        stage: Stage) -> None:
    uuid = uuid_with("A11", 8)
    card = await card_of(stage, lines=[uuid])
    (looked,) = events(stage, "invoice_facts")
    await click(stage, "U0BETO", card)
    (decision,) = events(stage, "decision_approve")
    assert json.loads(decision["details"])["facts"] == [
        {"ref": uuid, "event": looked["id"], "hash": looked["hash"]}]
    stage.runtime.store.close()  # what an operator runs once the bot is stopped
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "export", "--format", "jsonl"],
        env={**os.environ, "AUDIT_DB": str(stage.settings.audit_db)}, capture_output=True,
        text=True, timeout=120, cwd=stage.settings.audit_db.parent)
    assert done.returncode == 0, done.stderr
    exported = {e["id"]: e for e in map(json.loads, done.stdout.splitlines())}
    facts = exported[exported[decision["id"]]["details"]["facts"][0]["event"]]
    assert facts["details"]["invoice"]["uuid"] == uuid
    assert facts["details"]["sat"]["estado"] == "Vigente"


def test_a_bad_rule_is_one_sentence_naming_the_setting(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.setenv("APPROVAL_RULES",
                       "total>=1_000_000:3, total>=100000.50:2, reason=01:1, rfc=xaxx010101000:2")
    assert load_settings(_env_file=None).approval_rules == [
        TotalRule(minimum=Decimal("1000000"), approvals=3),
        TotalRule(minimum=Decimal("100000.50"), approvals=2),
        ReasonRule(reason=CancelReason.WITH_RELATION, approvals=1),
        RfcRule(rfc="XAXX010101000", approvals=2)]
    for bad, why in [("total>=100000:2,total>100", "'total>100' is not total>=AMOUNT:N"),
                     ("reason=05:2", "the reason is one of 01, 02, 03, 04"),
                     ("rfc=NOPE:2", "'NOPE' is not an RFC"),
                     ("reason=02:2,reason=02:3", "two rules for reason 02"),
                     ("rfc=XAXX010101000:9", "asks for 9 approvals, not 1 to 5")]:
        monkeypatch.setenv("APPROVAL_RULES", bad)
        with pytest.raises(ConfigError) as error:
            load_settings(_env_file=None)
        (problem,) = error.value.problems
        assert problem.startswith(f"APPROVAL_RULES {bad!r} is not valid"), problem
        assert why in problem, problem


def facts_of(total: str, currency: str = "MXN", rate: str | None = None) -> CfdiFacts:
    return CfdiFacts(version="4.0", uuid=uuid_with("000", 99), issuer_rfc="EKU9003173C9",
                     receiver_rfc="URE180429TM6", total=total, currency=currency,
                     exchange_rate=rate, issued_at=datetime(2026, 1, 5), type=CfdiType.INGRESO)


def test_what_the_rules_compare() -> None:
    assert request_amount([facts_of("10.50"), facts_of("2", "USD", "20")]) == Decimal("50.50")
    assert request_amount([facts_of("0", "XXX")]) == 0
    for unknown in (None, facts_of("1", "USD"), facts_of("1", "EUR", "x"), facts_of("5", "XXX")):
        assert request_amount([facts_of("1"), unknown]) is None
    settings = load_settings(_env_file=None, required_approvals=2, **RULES)
    policy = ApprovalRules(settings)
    million, lakh = TotalRule(minimum=Decimal(1000000), approvals=3), \
        TotalRule(minimum=Decimal(100000), approvals=2)
    assert policy.requirement("02", [facts_of("99999.99")]) == Requirement(
        approvals=2, amount=Decimal("99999.99"), basis=Basis.AMOUNT)
    assert policy.requirement("02", [facts_of("100000")]) == Requirement(
        approvals=2, rule=lakh, amount=Decimal("100000"), basis=Basis.AMOUNT)
    assert policy.requirement("02", [facts_of("1", "USD")]) == Requirement(
        approvals=3, rule=million, assumed=True, basis=Basis.UNCOMPARABLE)
    assert policy.approvals_required("cancel") == 3 and policy.approvals_required("send") == 0


def test_the_strictest_rule_applies_and_an_unknown_never_lowers_it() -> None:
    reason, total = ReasonRule(reason=CancelReason.WITH_RELATION, approvals=1), \
        TotalRule(minimum=Decimal(100000), approvals=2)
    rfc = RfcRule(rfc="XAXX010101000", approvals=3)
    rules = [reason, total, rfc]
    small = facts_of("500")
    public = small.model_copy(update={"receiver_rfc": "XAXX010101000"})
    # Before the invoices are known, the customer rule may apply: the strictest holds.
    assert weigh(rules, 1, case_of("01", None)) == Requirement(
        approvals=3, rule=rfc, assumed=True, also=[reason])
    # Known: a small invoice of another customer with reason 01 needs one.
    assert weigh(rules, 1, case_of("01", [small])) == Requirement(
        approvals=1, rule=reason, amount=Decimal(500), basis=Basis.AMOUNT)
    # The same to the general public: the customer rule is the strictest that applies.
    assert weigh(rules, 1, case_of("02", [public])) == Requirement(
        approvals=3, rule=rfc, amount=Decimal(500), basis=Basis.AMOUNT)
    # An invoice not known (no facts): amount and customer unknown, the strictest stays.
    assert weigh(rules, 1, case_of("01", [small, None])).approvals == 3
    # Never fewer than REQUIRED_APPROVALS; a rule asking fewer is still shown as applying.
    assert weigh([reason], 2, case_of("01", [small])) == Requirement(
        approvals=2, also=[reason], amount=Decimal(500), basis=Basis.AMOUNT)
    assert weigh([], 2, case_of("01", None)) is None
    # A requirement written before issue 22 reads as a total rule.
    old = Requirement.read('{"approvals": 2, "minimum": "100000", "amount": "150000", '
                           '"basis": "amount"}')
    assert old == Requirement(approvals=2, rule=total, amount=Decimal(150000),
                              basis=Basis.AMOUNT)


@pytest.mark.parametrize("stage", [{**RULES, "required_approvals": 0}], indirect=True)
async def test_without_approvals_below_the_rules_it_goes_once_the_amount_is_known(
        stage: Stage) -> None:
    small, large = priced(stage, 9, "800.00"), priced(stage, 10, "120000.00")
    await card_of(stage, lines=[small])
    assert request_row(stage, 1)["status"] in ("submitted", "completed")
    assert [e["actor_id"] for e in events(stage, "approval_not_needed")] == ["system"]
    await card_of(stage, lines=[large])
    assert request_row(stage, 2)["status"] == "awaiting_approval"
    assert request_row(stage, 2)["approvals_required"] == 2


@pytest.mark.parametrize("stage", [RULES], indirect=True)
async def test_a_retouched_attached_xml_cannot_lower_the_approvals_needed(
        stage: Stage) -> None:
    """The file says 1.00 MXN; the SAT does not know the invoice with that total, so the
    amount is unknown and the strictest rule stays (one approval does not submit it)."""
    uuid = priced(stage, 7, "150000.00")
    altered = stage.pac.book.get(uuid).model_copy(update={"total": "1.00"})
    await ask_with_files(stage, [("retocada.xml", cfdi_xml(altered))], lines=[uuid])
    card = stage.slack.channel_messages(APPROVALS)[-1]
    assert "SAT: No encontrado" in texts(card)
    assert request_row(stage)["approvals_required"] == 3
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "awaiting_approval"
    assert stage.pac.calls["cancelar"] == 0


@pytest.mark.parametrize("stage", [{"approval_rules": "reason=02:2,reason=03:1"}], indirect=True)
async def test_a_rule_by_reason_sets_the_approvals_needed(stage: Stage) -> None:
    card = await card_of(stage, lines=[priced(stage, 11, "500.00")])  # reason 02
    assert request_row(stage)["approvals_required"] == 2
    assert "Regla: motivo 02 → 2 aprobaciones (esta solicitud: $500 MXN)" in card_now(stage)
    await click(stage, "U0BETO", card)
    assert request_row(stage)["status"] == "awaiting_approval"  # one of two
    await click(stage, "U0CARLA", card)
    assert request_row(stage)["status"] in ("submitted", "completed")
    await card_of(stage, lines=[priced(stage, 12, "500.00")], reason="03")
    assert request_row(stage, 2)["approvals_required"] == 1
    assert "Regla: motivo 03 → 1 aprobación" in card_now(stage)
    (applied, _) = events(stage, "approval_rule_applied")
    assert json.loads(applied["details"])["rule"] == {"approvals": 2, "kind": "reason",
                                                      "reason": "02"}


@pytest.mark.parametrize("stage", [{"approval_rules": "rfc=URE180429TM6:3,total>=100000:2"}],
                         indirect=True)
async def test_a_rule_by_customer_applies_once_the_invoice_names_it(stage: Stage) -> None:
    await card_before_facts(stage, priced(stage, 13, "150000.00"))
    assert "cliente con RFC URE180429TM6 → 3 aprobaciones, la más estricta, mientras no se " \
        "conozcan los clientes de las facturas" in card_now(stage)
    await stage.settle()
    assert request_row(stage)["approvals_required"] == 3
    assert "Regla: cliente con RFC URE180429TM6 → 3 aprobaciones (esta solicitud: $150,000 " \
        "MXN) · también aplica: total ≥ $100,000 MXN → 2 aprobaciones" in card_now(stage)
