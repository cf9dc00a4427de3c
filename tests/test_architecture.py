"""The dependency rule and the homes of each concern (docs/architecture.md), checked on the
source itself, so that a change that breaks them fails here rather than in a review."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from storage.states import InvoiceStatus, RequestKind, RequestStatus

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("bot", "handlers", "storage")
MAX_LINES = 300
HARD_MAX_LINES = 400  # no module longer, whatever its reason
LONG_REASON = "Why this module is long:"
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"BEGIN\s+IMMEDIATE)\b", re.IGNORECASE | re.DOTALL)
STATUSES = ({s.value for s in RequestStatus} | {s.value for s in InvoiceStatus}
            | {k.value for k in RequestKind})


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def name_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def reaches(path: Path, *targets: str) -> list[str]:
    return sorted(i for i in imports(path) for t in targets if i == t or i.startswith(t + "."))


# (modules, what they must not import, why): the table in docs/architecture.md
SLACK_LIBRARIES = ("slack_sdk", "slack_bolt", "aiohttp")
RULES = [
    ([p for p in modules("bot") if "sandbox" not in p.parts and p != ROOT / "bot/cli/main.py"],
     ("bot.sandbox",), "only the composition root (bot/cli/main.py) chooses the sandbox"),
    (modules("handlers"), tuple(name_of(p) for p in modules("storage")
                                if p.stem not in ("states", "domain", "__init__")),
     "handlers go through bot.runtime.services (they may name states and kinds)"),
    (modules("storage"), ("bot", "handlers", *SLACK_LIBRARIES), "storage is the bottom"),
    ([p for p in modules("bot/sat") if "consulta" not in p.parts],
     ("bot.providers", "bot.workflow", "bot.slack", "bot.watching", "bot.runtime", "storage",
      "handlers", "zeep", *SLACK_LIBRARIES),
     "the SAT's domain knows no provider"),
    (modules("bot/sat/consulta"), ("bot.providers", "bot.workflow", "bot.slack", "storage",
                                   "handlers", *SLACK_LIBRARIES),
     "the SAT's status service (the one SOAP client in bot.sat) knows no provider"),
    (modules("bot/providers"), ("bot.workflow", "bot.slack", "bot.watching", "bot.runtime",
                                "storage", "handlers", *SLACK_LIBRARIES),
     "providers know no workflow, Slack or store"),
    (modules("bot/invoice_lists"), ("bot.slack", "bot.workflow", "bot.providers", "bot.watching",
                                    "bot.runtime", "storage", "handlers", *SLACK_LIBRARIES),
     "a list of invoices is read and checked without Slack, the store or a provider"),
    (modules("bot/workflow"), SLACK_LIBRARIES, "the workflow speaks to Slack through bot.slack"),
    (modules("bot/watching"), SLACK_LIBRARIES, "the watcher speaks to Slack through bot.slack"),
    (modules("bot/reporting"), ("bot.providers", "handlers", *SLACK_LIBRARIES),
     "the monthly report reads the store and speaks to Slack through bot.slack"),
    (modules("bot/slack/render"), ("storage.store", "storage.tx", "storage.queries",
                                   "bot.providers", "bot.workflow", *SLACK_LIBRARIES),
     "rendering reads no store and calls nobody: rows in, Block Kit out"),
    ([p for p in modules("bot") if "sandbox" not in p.parts and "providers" not in p.parts
      and p != ROOT / "bot/cli/main.py"] + modules("handlers"),
     ("bot.providers.solucion_factible",),
     "only the registry and the composition root name a provider"),
]


@pytest.mark.parametrize(("paths", "forbidden", "why"), RULES, ids=[r[2] for r in RULES])
def test_the_dependency_rule(paths: list[Path], forbidden: tuple[str, ...], why: str) -> None:
    broken = {name_of(p): reaches(p, *forbidden) for p in paths if reaches(p, *forbidden)}
    assert not broken, f"{why}: {broken}"


def _strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module, leaving out docstrings and StrEnum members."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", None) == "StrEnum" for b in node.bases):
            skip |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in skip]


def test_no_sql_above_storage() -> None:
    found = [f"{name_of(p)}:{line}" for p in modules("bot", "handlers")
             for line, text in _strings(p) if SQL.search(text)]
    assert not found, found


def test_nothing_outside_the_providers_package_names_its_codes_or_elements() -> None:
    """A second provider is a package of its own: neutral code holds none of Solución
    Factible's codes (its words say which restate a status) nor its operations' or
    elements' names."""
    from bot.providers.solucion_factible.codes import CANCELLATION, OPERATION

    codes = {str(code) for code in [*OPERATION, *CANCELLATION]} - {"200"}
    # (its operations "cancelar" and "enviar" are also the Spanish words of `/cfdi`)
    wire = {"descargarXML", "solicitudesCancelacion", "solicitudEnvio",
            "motivoCancelacion", "acuseSAT", "estatusUUID", "resultadosCancelacion"}
    neutral = [p for p in modules("bot", "handlers")
               if not {"providers", "sandbox", "sat", "i18n"} & set(p.parts)]
    found = [f"{name_of(p)}:{line} {text!r}" for p in neutral for line, text in _strings(p)
             if text in codes or text in wire]
    assert not found, found


def test_status_names_live_in_the_states_module() -> None:
    allowed = {ROOT / "storage" / "states.py", *modules("bot/i18n")}
    found = [f"{name_of(p)}:{line} {text!r}" for p in modules(*PRODUCTION) if p not in allowed
             for line, text in _strings(p) if text in STATUSES]
    assert not found, found


def test_long_modules_say_why() -> None:
    long = [name_of(p) for p in modules(*PRODUCTION)
            if len(p.read_text(encoding="utf-8").splitlines()) > MAX_LINES
            and LONG_REASON not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert not long, long


def test_no_module_over_the_hard_limit() -> None:
    long = {name_of(p): n for p in modules(*PRODUCTION)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > HARD_MAX_LINES}
    assert not long, long


def test_every_class_says_what_it_is_for() -> None:
    bare = [f"{name_of(p)}.{node.name}" for p in modules(*PRODUCTION)
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, ast.ClassDef) and not ast.get_docstring(node)]
    assert not bare, bare


def test_one_row_type_and_one_actor() -> None:
    declared = [name_of(p) for p in modules(*PRODUCTION)
                for node in ast.parse(p.read_text(encoding="utf-8")).body
                if isinstance(node, ast.Assign | ast.ClassDef) and
                ("Row" in [getattr(t, "id", None) for t in getattr(node, "targets", [])] or
                 getattr(node, "name", None) == "Actor")]
    assert sorted(declared) == ["bot.actors", "storage.domain"], declared


def test_every_provider_outcome_is_an_invoice_state() -> None:
    """The SAT's outcomes are recorded as invoice states (bot.sat cannot import storage)."""
    from bot.sat.outcomes import Outcome

    assert {o.value for o in Outcome} <= {s.value for s in InvoiceStatus}


BLOCKING_WRITE = re.compile(r"\.transaction\(\)|\bstore\.(record|transition)\(")


def test_code_on_the_event_loop_never_blocks_on_the_write_lock() -> None:
    """The bot writes through `AuditStore.writing()`/`append()`, which wait for another
    writer with asyncio.sleep; the blocking `transaction()` is for the CLI and tests."""
    on_loop = [p for p in modules("bot", "handlers") if "cli" not in p.parts]
    blocking = [name_of(p) for p in on_loop if BLOCKING_WRITE.search(p.read_text())]
    assert not blocking, blocking
