"""Settings: the names and defaults of the README's table, and one clear sentence per bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL

CONTRACT_DEFAULTS = {
    "slack_api_url": "https://slack.com/api/", "port": 3000, "approvers": [],
    "requesters": [], "required_approvals": 1, "send_requires_approval": False,
    "admin_channel": None, "cfdi_wsdl": str(SHIPPED_WSDL), "cfdi_endpoint": "sandbox",
    "cfdi_usuario": "sandbox", "cfdi_timeout_s": 30, "cfdi_batch_size": 50,
    "watch_interval_s": 60, "approval_ttl_h": 72, "pending_alert_h": 120,
    "audit_db": Path("data/audit.db"), "language": "es", "slack_bot_token": None,
    "slack_app_token": None, "approvals_channel": None, "log_level": "INFO",
    "log_format": "text", "timezone": "America/Mexico_City",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper() in {k.upper() for k in Settings.model_fields}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer .env in the way


def test_defaults_are_the_contract() -> None:
    settings = load_settings()
    for name, value in CONTRACT_DEFAULTS.items():
        assert getattr(settings, name) == value, name
    assert settings.cfdi_password.get_secret_value() == "sandbox"
    assert settings.sandbox and not settings.socket_mode


def test_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVERS", "U01ABC, S02XYZ")
    monkeypatch.setenv("REQUIRED_APPROVALS", "2")
    monkeypatch.setenv("SEND_REQUIRES_APPROVAL", "true")
    monkeypatch.setenv("CFDI_ENDPOINT", "https://example.invalid/ws/services/CFDI")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api")
    monkeypatch.setenv("LANGUAGE", "en")
    settings = load_settings()
    assert settings.approvers == ["U01ABC", "S02XYZ"]
    assert settings.required_approvals == 2 and settings.send_requires_approval
    assert not settings.sandbox
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert settings.language == "en"


def test_dotenv_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4000\nAPPROVALS_CHANNEL=C0123ABC\n")
    settings = load_settings()
    assert (settings.port, settings.approvals_channel) == (4000, "C0123ABC")


def test_each_bad_value_gets_one_sentence_with_form_and_example(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("APPROVERS", "U01ABC,#finanzas")
    monkeypatch.setenv("LANGUAGE", "fr")
    monkeypatch.setenv("CFDI_BATCH_SIZE", "0")
    monkeypatch.setenv("APPROVALS_CHANNEL", "#aprobaciones")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    problems = caught.value.problems
    assert len(problems) == 5
    by_var = {p.split(" ")[0]: p for p in problems}
    assert by_var["PORT"] == ("PORT 'eighty' is not valid: expected a TCP port between 1 and "
                              "65535, for example PORT=3000.")
    assert "#finanzas" in by_var["APPROVERS"] and "APPROVERS=U01ABC,S02XYZ" in by_var["APPROVERS"]
    assert "LANGUAGE=es" in by_var["LANGUAGE"]
    assert "CFDI_BATCH_SIZE=50" in by_var["CFDI_BATCH_SIZE"]
    assert "not a name" in by_var["APPROVALS_CHANNEL"]


@pytest.mark.parametrize("var", ["APPROVALS_CHANNEL", "ADMIN_CHANNEL", "AUDIT_CHANNEL",
                                 "REPORT_CHANNEL"])
def test_every_channel_setting_is_checked(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    """Each group of settings lives in its own class (bot/config/): a validator that shares a
    method name with another group's would silently replace it (pydantic keeps one per name)."""
    monkeypatch.setenv(var, "#canal")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    (problem,) = caught.value.problems
    assert problem.startswith(f"{var} '#canal' is not valid")


def test_every_validator_of_the_settings_has_its_own_name() -> None:
    import ast
    from pathlib import Path

    import bot.config

    names = [node.name for path in Path(bot.config.__file__).parent.glob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.FunctionDef) and node.name.startswith("_")
             and any(getattr(getattr(d, "func", None), "id", "") == "field_validator"
                     for d in node.decorator_list)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_what_run_needs_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = load_settings().problems_for_run()
    assert [p.split(" ")[0] for p in problems] == [
        "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "APPROVALS_CHANNEL", "APPROVERS"]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-2-3")
    monkeypatch.setenv("APPROVALS_CHANNEL", "C0123ABC")
    monkeypatch.setenv("APPROVERS", "U0123ABC")
    assert load_settings().problems_for_run() == []  # Socket Mode needs no signing secret


@pytest.mark.parametrize(("var", "value"), [
    ("SLACK_BOT_TOKEN", "xoxb-…"), ("SLACK_BOT_TOKEN", "xoxb-..."), ("SLACK_BOT_TOKEN", "xoxb-"),
    ("SLACK_BOT_TOKEN", "xoxb-xxxx-xxxx"), ("SLACK_BOT_TOKEN", "xoxb-your-bot-token"),
    ("SLACK_BOT_TOKEN", "xoxb-1234-5678-abcd"), ("SLACK_APP_TOKEN", "xapp-…"),
    ("SLACK_APP_TOKEN", "xapp-<app token>"), ("SLACK_SIGNING_SECRET", "8f3c…"),
])
def test_placeholders_are_refused_without_echo(monkeypatch: pytest.MonkeyPatch, var: str,
                                               value: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv(var, value)
    problems = load_settings().problems_for_run()
    (said,) = [p for p in problems if p.startswith(var)]
    assert said.startswith(f"{var} is still a placeholder: put ")
    assert value not in said.replace("(xoxb-…)", "").replace("(xapp-…)", "")


@pytest.mark.parametrize("value", [
    "xoxb-12345678901-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-1-2-3",
    "xoxb-sandbox-0a1b2c3d4e5f6a7b"])
def test_real_looking_tokens_are_not_placeholders(monkeypatch: pytest.MonkeyPatch,
                                                  value: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", value)
    assert not load_settings().placeholders()


def test_provider_credentials_left_as_dots_are_placeholders(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFDI_ENDPOINT", "https://pac.example/CFDI33")
    monkeypatch.setenv("CFDI_USUARIO", "...")
    monkeypatch.setenv("CFDI_PASSWORD", "Pw.with...dots")  # a real password may hold anything
    assert [p.split(" ")[0] for p in load_settings().placeholders()] == ["CFDI_USUARIO"]


def test_a_missing_wsdl_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFDI_WSDL", "pac/missing.wsdl")
    assert load_settings().file_problems() == [
        "CFDI_WSDL 'pac/missing.wsdl' is not a file that exists: give the path of the "
        "provider's WSDL or its http(s) URL, or leave it unset for the shipped copy "
        "(bot/providers/solucion_factible/cfdi33.wsdl)."]
    monkeypatch.setenv("CFDI_WSDL", "https://pac.example/CFDI33?wsdl")
    assert load_settings().file_problems() == []


def test_a_bad_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-very-secret")
    problems = load_settings().problems_for_run()
    assert any(p.startswith("SLACK_BOT_TOKEN is not valid") for p in problems)
    assert not any("very-secret" in p for p in problems)


def test_the_command_line_explains_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.upper() not in
           {n.upper() for n in Settings.model_fields}}
    env.update(PORT="99999", CFDI_TIMEOUT_S="soon")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "PORT '99999' is not valid" in done.stderr
    assert "CFDI_TIMEOUT_S 'soon' is not valid" in done.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["demo"], ["sandbox"], ["audit"],
                                     ["audit", "verify"], ["audit", "export"]])
def test_every_command_has_help(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", *command, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: python -m bot" in done.stdout


def test_max_invoices_counts_a_files_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().max_invoices == 5000
    monkeypatch.setenv("MAX_INVOICES", "20000")
    assert load_settings().max_invoices == 20000
    monkeypatch.setenv("MAX_INVOICES", "20001")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == [
        "MAX_INVOICES '20001' is not valid: expected a whole number from 1 to 20000, for "
        "example MAX_INVOICES=5000."]


def test_every_setting_is_in_the_readmes_table_and_has_a_hint() -> None:
    """The README's table is the contract admins read; HINTS gives the sentence of a bad value."""
    from bot.config.sentences import HINTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    names = {n.upper() for n in Settings.model_fields}
    unlisted = sorted(n for n in names if f"`{n}`" not in readme)
    assert not unlisted, unlisted
    unhinted = sorted(n for n in names if n not in HINTS)
    assert not unhinted, unhinted
