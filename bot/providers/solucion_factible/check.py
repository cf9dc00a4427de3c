"""`python -m bot provider check [--live]`: what an operator runs before the first real request.

It shows the WSDL in use and the address, then, for each operation and element the bot
sends or reads, whether the loaded WSDL has it. With `--live` it cancels the provider's
documented test UUIDs (the 204 and 211 families of its test page) with the configured
account and prints the raw code beside how the bot reads it. Exit 0 when all is well, 1
otherwise, with one sentence per problem.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from bot.i18n import t
from bot.providers.solucion_factible.client import PacClient, RetryPolicy
from bot.providers.solucion_factible.errors import PacContractError
from bot.sat.cancellation import CancelItem
from bot.sat.outcomes import Outcome
from bot.sat.refs import InvoiceRef

# The provider's documented test UUIDs (its cancelar page): what each answers on its test host.
TEST_UUIDS: dict[str, Outcome] = {
    "E329DD15-7D0B-44E9-A204-51A7443D1FBE": Outcome.NOT_CANCELABLE,
    "5B4B180D-5B6C-4392-B204-252215A1AB84": Outcome.NOT_CANCELABLE,
    "C5E58106-6C1E-41C9-A211-FB8BAD1CABB0": Outcome.PENDING,
    "38FB9AC9-DD3E-4601-B211-EB02C007C3BA": Outcome.PENDING,
}


async def check(settings: Settings, endpoint: str, *, live: bool,
                say: Callable[[str], None] = print) -> int:
    lang = settings.language
    say(t("check.provider.wsdl", lang, wsdl=settings.cfdi_wsdl))
    say(t("check.provider.address", lang, address=endpoint))
    try:
        client = await PacClient.create(
            settings.cfdi_wsdl, endpoint, usuario=settings.cfdi_usuario,
            password=settings.cfdi_password.get_secret_value(),
            timeout_s=settings.cfdi_timeout_s, batch_size=settings.cfdi_batch_size,
            retry=RetryPolicy(attempts=1))
    except PacContractError as exc:
        say(t("check.provider.contract_failed", lang))
        for problem in exc.problems:
            say(f"  ✗ {problem}")
        return 1
    except Exception as exc:  # a missing file, an unreachable URL, not a WSDL at all
        error = str(exc)[:200]
        say("  ✗ " + t("check.provider.unreadable", lang, wsdl=settings.cfdi_wsdl, error=error))
        return 1
    try:
        inspection = client.inspection
        say(t("check.provider.namespace", lang, namespace=inspection.namespace))
        for line in inspection.lines:
            mark = "✓" if line.found else ("✗" if line.required else "–")
            say(f"  {mark} {line.operation} {t(f'check.provider.{line.direction}', lang)} "
                f"{line.path}")
        where = ("item" if inspection.motivo_in_item else "call" if inspection.motivo_in_call
                 else "none")
        say("  " + t(f"check.provider.motivo_{where}", lang))
        say("  " + t("check.provider.download_" + ("yes" if inspection.download else "no"),
                     lang))
        problems = await _live(client, lang, say) if live else 0
        say(t("check.provider.failed", lang, count=problems) if problems
            else t("check.provider.ok", lang))
        return 1 if problems else 0
    finally:
        await client.aclose()


async def _live(client: PacClient, lang: str, say: Callable[[str], None]) -> int:
    say(t("check.provider.live", lang))
    items = [CancelItem(ref=InvoiceRef(uuid=uuid), reason="02") for uuid in TEST_UUIDS]
    result = await client.cancel(items, one_per_call=True)
    problems = 0
    for (uuid, expected), outcome in zip(TEST_UUIDS.items(), result.outcomes, strict=True):
        read = t(f"outcome.{outcome.outcome.value}", lang)
        say(f"  {uuid}: " + t("check.provider.answer", lang, code=outcome.code or "?",
                              sat=outcome.estatus_uuid or "-", read=read))
        if outcome.outcome is not expected:
            problems += 1
            say("  ✗ " + t("check.provider.unexpected", lang, uuid=uuid,
                           expected=t(f"outcome.{expected.value}", lang),
                           detail=outcome.detalle or ""))
    return problems
