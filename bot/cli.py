"""`python -m bot <command>`: run, demo, sandbox, provider check, audit verify|export."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import date
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="CFDI Bot: cancel and e-mail CFDI invoices from Slack.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set, "
                        "else HTTP on PORT)", description="Run the Slack bot.")
    commands.add_parser("demo", help="the whole flow offline against the sandbox provider",
                        description="Play a cancellation and a send against the sandbox "
                        "provider, then print the audit trail recorded in AUDIT_DB.")
    sandbox = commands.add_parser("sandbox", help="run the provider simulator alone",
                                  description="Serve the sandbox provider (WSDL at "
                                  "/ws/services/CFDI?wsdl) until interrupted.")
    sandbox.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    sandbox.add_argument("--sat-port", type=int, default=8081,
                         help="TCP port of the SAT status stand-in beside it (default 8081)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sandbox.add_argument("--resolve-after", type=float, default=30.0, metavar="S",
                         help="seconds before a resolving pending cancellation resolves")
    sandbox.add_argument("--slow", type=float, default=5.0, metavar="S",
                         help="seconds a slow answer (code 900) takes")
    sandbox.add_argument("--usuario", default="sandbox", help="accepted user (default sandbox)")
    sandbox.add_argument("--password", default="sandbox",
                         help="accepted password (default sandbox)")

    provider = commands.add_parser("provider", help="check the provider's WSDL and service",
                                   description="Check the provider's web service.")
    provider_commands = provider.add_subparsers(dest="provider_command", required=True,
                                                metavar="ACTION")
    provider_check = provider_commands.add_parser(
        "check", help="every operation and element the bot needs: found or missing",
        description="Show the WSDL in use and its address, and for each operation and "
        "element the bot sends or reads: found or missing. Exit 0 when all is well.")
    provider_check.add_argument(
        "--live", action="store_true", help="also cancel the provider's documented test "
        "UUIDs with the configured account and show how each answer is read")

    audit = commands.add_parser("audit", help="verify or export the audit log",
                                description="Verify or export the audit log in AUDIT_DB.")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_commands.add_parser("verify", help="check the hash chain of every event",
                              description="Walk the event chain; exit 1 at the first "
                              "event that does not match.")
    export = audit_commands.add_parser("export", help="export events as CSV or JSON lines",
                                       description="Export events in time order.")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="first day included (UTC)")
    export.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last day included (UTC)")
    export.add_argument("--requester", metavar="UID", help="only requests of this Slack user")
    export.add_argument("--output", type=Path, metavar="FILE", help="file (default stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _config_problems(exc.problems)
    setup_logging(settings.secrets())
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "audit":
        return _audit(args, settings)
    if args.command == "provider":
        return asyncio.run(_provider_check(settings, live=args.live))
    if args.command == "demo":
        from bot.sandbox.demo import run_demo
        return asyncio.run(run_demo(settings))
    return _run(settings)


def _config_problems(problems: list[str]) -> int:
    print("The configuration cannot be used:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def _run(settings: Settings) -> int:
    problems = settings.problems_for_run()
    if problems:
        return _config_problems(problems)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> int:
    """The composition root: the real provider, or (CFDI_ENDPOINT=sandbox) the simulator."""
    from bot.app import build, connect_provider, connect_sat, serve
    from bot.config import SANDBOX
    from bot.pac.errors import PacContractError

    try:
        if settings.sandbox:
            from bot.sandbox.stage import sandbox_runtime

            runtime, *_ = await sandbox_runtime(settings)
        else:
            sat = None
            if settings.sat_consulta_url == SANDBOX:  # the stand-in knows only its own invoices
                log.warning("SAT_CONSULTA_URL names the SAT stand-in while the provider is "
                            "real: the SAT is not asked; set it to the SAT's address (README, "
                            "going live)")
            else:
                sat = await connect_sat(settings)
            runtime = await build(settings, await connect_provider(settings), sat=sat)
    except PacContractError as exc:
        return _config_problems(exc.problems)
    await serve(runtime)
    return 0


async def _provider_check(settings: Settings, *, live: bool) -> int:
    """Against CFDI_ENDPOINT, or a sandbox started for the check when it says `sandbox`."""
    from bot.provider_check import check

    if not settings.sandbox:
        return await check(settings, settings.cfdi_endpoint, live=live)
    from bot.sandbox.pac_server import SandboxPac

    with SandboxPac(usuario=settings.cfdi_usuario,
                    password=settings.cfdi_password.get_secret_value()) as sandbox:
        return await check(settings, sandbox.endpoint, live=live)


def _sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.pac_server import SandboxPac
    from bot.sandbox.sat_server import SandboxSat

    server = SandboxPac(usuario=args.usuario, password=args.password, host=args.host,
                        port=args.port, resolve_after_s=args.resolve_after, slow_s=args.slow)
    sat = SandboxSat(server.state, server.book, host=args.host, port=args.sat_port).start()
    print(f"Sandbox provider: WSDL {server.wsdl_url}\n"
          f"Set CFDI_WSDL={server.wsdl_url} or CFDI_ENDPOINT={server.endpoint}\n"
          f"SAT status stand-in: set SAT_CONSULTA_URL={sat.endpoint}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sat.stop()
    server.stop()
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from storage import export
    from storage.store import AuditStore

    if not Path(settings.audit_db).exists():
        print(f"There is no audit database at {settings.audit_db} (AUDIT_DB).", file=sys.stderr)
        return 1
    store = AuditStore.open(settings.audit_db)
    try:
        if args.audit_command == "verify":
            verdict = store.verify()
            if verdict.ok:
                print(f"OK: {verdict.checked} events checked; the chain is intact. "
                      f"Head hash: {verdict.head}")
                return 0
            print(f"BROKEN: event {verdict.bad_event} does not match: {verdict.problem}. "
                  f"{verdict.checked} events before it are intact.")
            return 1
        rows = export.select_events(store, since=args.since, until=args.until,
                                    requester=args.requester)
        if args.output:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                count = export.write(rows, out, args.format)
            print(f"{count} events written to {args.output}", file=sys.stderr)
        else:
            export.write(rows, sys.stdout, args.format)
        return 0
    finally:
        store.close()
