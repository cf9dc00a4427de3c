"""The ack benchmark's figures as a compact table on stdout (the JSON file holds them all)."""

from __future__ import annotations

from typing import Any

KIND_NAMES = {"ayuda": "ayuda", "cancelar": "cancelar", "form": "form", "approve": "Approve"}


def _row(name: str, figures: dict[str, Any], ratio: str = "") -> str:
    return (f"   {name:<17}{figures['p50_ms_median_of_rounds']:>9.1f}"
            f"{figures['p99_ms_median_of_rounds']:>9.1f}{ratio:>9}{figures['max_ms']:>9.1f}"
            f"{figures['over_3s']:>9}{figures['not_200']:>9}")


def _verdict(value: bool | None) -> str:
    return "n/a" if value is None else "met" if value else "MISSED"


def print_table(results: dict[str, Any]) -> None:
    plan, ratios = results["plan"], results["ratios"]
    per_kind = plan["per_kind"]
    print(f"   {plan['rounds']} rounds; each: {4 * per_kind} signed requests mixed ({per_kind} "
          f"each of /cfdi ayuda, /cfdi cancelar, cancel form, Approve),\n   then each kind "
          f"alone; {plan['concurrency']} at a time; provider answering in "
          f"{plan['provider_s']:g} s;\n   bot, bare app (and trivial server) interleaved; "
          "p50, p99: median of the rounds'")
    print(f"   {'':<17}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}{'max ms':>9}{'> 3 s':>9}"
          f"{'not 200':>9}")
    print(_row("trivial server", results["floor"]))
    print(_row("bare Bolt app", results["bare"], "1.00x"))
    print(_row("the bot", results["bot"], f"{ratios['p99']:.2f}x"))
    alone = results["alone"]
    print("   each kind alone, p99 bot/bare: " + " · ".join(
        f"{KIND_NAMES[k]} {alone[k]['bot']['p99_ms_median_of_rounds']:.0f}/"
        f"{alone[k]['bare']['p99_ms_median_of_rounds']:.0f} ms = {r:.1f}x"
        for k, r in ratios["p99_per_kind"].items()))
    forms = results["forms"]
    print(f"   forms: the bot opened {forms['opened_by_bot']} of {forms['cancelar_sent']} asked "
          f"for in the rounds; accepted {forms['accepted']} of {forms['submitted']} submitted;"
          f"\n   requests whose card the bot posted twice: {forms['cards_posted_twice']}")
    slack = results["slack"]
    print(f"   Slack: {slack['calls']} Web API calls by the bot on {slack['connections']} new "
          f"connections = {slack['connections_per_call']} per call")
    memory, startup = results["memory"], results["startup_s"]
    print(f"   peak memory (VmHWM): bot {memory['bot_peak_mb']:.0f} MB, bare app "
          f"{memory['bare_peak_mb']:.0f} MB; start-up to first HTTP answer: bot "
          f"{startup['bot']:.2f} s, bare app {startup['bare']:.2f} s")
    watch = results["watcher_cycle"]
    answers = watch["answers"]
    left = watch["left"]
    done = f"done in {watch['cycle_s']:g} s" if watch["cycle_s"] is not None else \
        (f"NOT done within {watch['cap_s']:g} s ({left['due']:,} still due, "
         f"{left['replies_owed']:,} replies and {left['cards_owed']:,} cards owed)")
    print(f"   (a) watcher cycle over {watch['due']:,} due pending invoices: {done}; "
          f"meanwhile {answers['count']} answers:\n       p50 {answers['p50_ms']:.0f} ms, p99 "
          f"{answers['p99_ms']:.0f} ms, max {answers['max_ms']:.0f} ms; over 3 s: "
          f"{answers['over_3s']}; not 200: {answers['not_200']}; bot VmHWM "
          f"{watch['bot_peak_mb']:.0f} MB")
    lock = results["held_lock"]
    print(f"   (b) another process holding the write lock for {lock['lock_s']:g} s "
          f"(estado of {lock['estado_uuid']}):")
    for row in lock["answers"]:
        outcome = f" {row['outcome']}, {'written' if row['written'] else 'nothing written'}" \
            if row["kind"] == "form" else ""
        print(f"       at {row['sent_at_s']:>4.1f} s {row['kind']:<8} HTTP {row['status']:<3} "
              f"{row['ms']:>7.0f} ms  {'truthful' if row['truthful'] else 'UNTRUTHFUL'}"
              f"{outcome}  \"{row['said'][:48]}\"")
    print("   targets: " + " · ".join(f"{name}: {_verdict(ok)}"
                                      for name, ok in results["targets"].items()))
