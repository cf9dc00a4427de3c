"""The sentence a person reads for a setting that is missing, invalid or still a placeholder:
the form each setting takes and an example (HINTS), where a secret comes from; a secret's
value is never echoed, a URL's user and password never shown."""

from __future__ import annotations

import re
from typing import Any

from bot.providers.registry import DEFAULT as DEFAULT_PROVIDER
from bot.providers.registry import PROVIDERS

# What each variable expects and an example, used to explain a bad value in one sentence.
HINTS: dict[str, tuple[str, str]] = {
    "SLACK_BOT_TOKEN": ("a bot token that starts with xoxb-", "xoxb-1234-5678-abcd"),
    "SLACK_APP_TOKEN": ("an app-level token that starts with xapp-", "xapp-1-A1-2-abcd"),
    "SLACK_SIGNING_SECRET": ("the app's signing secret (Basic Information page)", "8f3c…"),
    "SLACK_API_URL": ("an http(s) URL ending in /api/", "https://slack.com/api/"),
    "PORT": ("a TCP port between 1 and 65535", "3000"),
    "APPROVALS_CHANNEL": ("a channel ID (C… or G…), not a name", "C0123456789"),
    "APPROVERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)", "U01ABC,S02XYZ"),
    "REQUESTERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)", "U01ABC,S02XYZ"),
    "REQUIRED_APPROVALS": ("a whole number from 0 to 5", "1"),
    "SEND_REQUIRES_APPROVAL": ("true or false", "false"),
    "APPROVAL_RULES": ("comma-separated rules total>=AMOUNT:N (amount in MXN), reason=NN:N "
                       "(SAT reason 01-04) or rfc=RFC:N (the customer), N approvals 1 to 5",
                       "reason=01:1,total>=100000:2,rfc=XAXX010101000:2"),
    "ADMIN_CHANNEL": ("a channel ID (C… or G…)", "C0987654321"),
    "CFDI_WSDL": ("a file path or an http(s) URL of the provider's WSDL",
                 "bot/providers/solucion_factible/cfdi33.wsdl"),
    "CFDI_PROVIDER": ("one of: " + ", ".join(sorted(PROVIDERS)), DEFAULT_PROVIDER),
    "CFDI_ENDPOINT": ("'sandbox' or the service's http(s) address", "sandbox"),
    "CFDI_USUARIO": ("the provider user name", "sandbox"),
    "CFDI_PASSWORD": ("the provider password", "(secret)"),
    "CFDI_TIMEOUT_S": ("a number of seconds greater than 0", "30"),
    "CFDI_BATCH_SIZE": ("a whole number from 1 to 500", "50"),
    "CFDI_RETRY_ATTEMPTS": ("a whole number from 1 to 10", "4"),
    "CFDI_RETRY_MAX_S": ("a number of seconds greater than 0", "60"),
    "WATCH_INTERVAL_S": ("a number of seconds greater than 0", "60"),
    "WATCH_BACKOFF_S": ("comma-separated seconds between re-checks of one pending invoice",
                        "60,300,900,3600"),
    "APPROVAL_TTL_H": ("a number of hours greater than 0", "72"),
    "PENDING_ALERT_H": ("a number of hours greater than 0", "120"),
    "AUDIT_DB": ("a path for the SQLite file", "data/audit.db"),
    "AUDIT_SIGNING_KEY": ("the path of the Ed25519 key `python -m bot audit keygen` wrote",
                          "/etc/cfdi-bot/audit-signing.key"),
    "AUDIT_CHANNEL": ("a channel ID (C… or G…) for the audit log's checkpoints", "C0123456789"),
    "AUDIT_CHECKPOINT_EVERY_H": ("a number of hours greater than 0", "1"),
    "AUDIT_CHECKPOINTS_FILE": ("a path for the checkpoints file", "data/audit.checkpoints"),
    "MAX_INVOICES": ("a whole number from 1 to 20000", "5000"),
    "LARGE_REQUEST_AT": ("a whole number of invoices from 1 to 1000", "40"),
    "LANGUAGE": ("es or en", "es"),
    "SAT_CONSULTA_URL": ("'sandbox' or the SAT status service's http(s) address",
                         "https://consultaqr.facturaelectronica.sat.gob.mx/"
                         "ConsultaCFDIService.svc"),
    "SAT_TIMEOUT_S": ("a number of seconds greater than 0", "10"),
    "SAT_CONFIRM_H": ("a number of hours greater than 0", "72"),
    "RECONCILE_HOUR": ("a whole hour from 0 to 23 (in TIMEZONE)", "7"),
    "REPORTERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)", "U01ABC,S02XYZ"),
    "REPORT_CHANNEL": ("a channel ID (C… or G…)", "C0123456789"),
    "REPORT_HOUR": ("an hour of the day from 0 to 23.99 (in TIMEZONE; 8.5 is 08:30)", "8"),
    "ANNUAL_RETURN_DEADLINE": ("a month and day, MM-DD (companies 03-31, people 04-30)",
                               "03-31"),
    "LOG_LEVEL": ("DEBUG, INFO, WARNING or ERROR", "INFO"),
    "LOG_FORMAT": ("text, or json for one JSON object per line", "json"),
    "TIMEZONE": ("an IANA time zone name", "America/Mexico_City"),
    "BUSINESS_HOURS": ("opening and closing times HH:MM-HH:MM (in TIMEZONE)", "09:00-18:00"),
    "EXTRA_HOLIDAYS": ("comma-separated dates YYYY-MM-DD, or MM-DD for every year",
                       "2026-12-24,12-12"),
    "REMIND_AFTER_H": ("a number of business hours, 0 for no reminder", "4"),
    "LAST_REMINDER_H": ("a number of business hours before the expiry, 0 for none", "2"),
    "DIGEST_HOUR": ("an hour of the day from 0 to 23.99 (8.5 is 08:30), or off", "8.5"),
    "ESCALATE_AFTER_H": ("a number of business hours, 0 for no escalation", "24"),
    "ESCALATION_APPROVERS": ("comma-separated user IDs (U…) and/or user-group IDs (S…)",
                             "U03JEFA,S04DIRECCION"),
}


SECRET_VARS = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "CFDI_PASSWORD"}


# Where the real value of a variable is found, for a placeholder left in `.env`.
WHERE_FROM: dict[str, str] = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": "an app-level token (xapp-…) made under Basic Information → App-Level "
                       "Tokens with the connections:write scope",
    "SLACK_SIGNING_SECRET": "the Signing Secret from the app's Basic Information page",
    "CFDI_USUARIO": "the user name the provider gave you",
    "CFDI_PASSWORD": "the password the provider gave you",
}


# What only an example or a template holds. Real Slack tokens and secrets are letters, digits
# and dashes, so an ellipsis, dots, <…> or spaces mark a template, as does a dash-separated
# part made of x's or starting with "your" or "example" (a real token's random part will
# practically never do either). A provider credential is a placeholder only when it is
# nothing but such a mark: a real password may hold any character.
_TEMPLATE_CHARS = re.compile(r"…|\.\.|[<>\s]")


_TEMPLATE_PART = re.compile(r"^(x{2,}|your.*|example.*|placeholder.*|changeme.*)$",
                            re.IGNORECASE)


_TEMPLATE_WHOLE = re.compile(r"^(…|\.{2,}|x{3,}|<[^>]*>|\(secret\)|your[-_ ]?password)$",
                             re.IGNORECASE)


_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


def is_placeholder(var: str, value: str) -> bool:
    if var.startswith("CFDI_"):
        return bool(_TEMPLATE_WHOLE.match(value.strip()))
    rest = value.removeprefix(_PREFIX.get(var, ""))
    return (not rest.strip("-") or value == HINTS[var][1] or bool(_TEMPLATE_CHARS.search(value))
            or any(_TEMPLATE_PART.match(part) for part in rest.split("-")))


def missing(var: str, when: str = "") -> str:
    form, example = HINTS[var]
    when = f" {when}" if when else ""
    return f"{var} is required{when}: set it to {form}, for example {var}={example}."


_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:(?=/))?/*(?P<authority>[^/?#]*)")


_BEFORE_LAST_AT = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.DOTALL)


def userinfo(value: str) -> str | None:
    """The `user:pass` of `scheme://user:pass@host/…` (scheme and slashes optional), if any."""
    match = _AUTHORITY.match(value)
    authority = match["authority"] if match else ""
    return authority.rpartition("@")[0] if "@" in authority else None


def without_userinfo(value: str) -> str:
    """A URL-like value safe to show: whatever comes before its last `@` becomes `***`
    (a malformed URL may hold a password with `/` in it; showing less is safe)."""
    return _BEFORE_LAST_AT.sub(lambda m: f"{m['scheme'] or ''}***@", value, count=1)


def invalid(var: str, got: Any, why: str = "") -> str:
    form, example = HINTS.get(var, ("a valid value", "…"))
    shown = ("" if var in SECRET_VARS or got is None
             else f" {without_userinfo(str(got))[:60]!r}")
    why = f" ({why})" if why else ""
    return f"{var}{shown} is not valid{why}: expected {form}, for example {var}={example}."
