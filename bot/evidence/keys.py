"""The signing key: an Ed25519 private key in a PEM file (PKCS #8) outside the database,
readable by the bot's user alone (AUDIT_SIGNING_KEY), and the name it signs under.

The name is the checkpoints' origin: the log's name and the provider the audit file belongs
to (`cfdi-bot/simulated-provider`, `cfdi-bot/<provider address>`), so a checkpoint names the
log it speaks for and a key made for one provider's log does not verify another's. (Not the
word "sandbox": it is also the sandbox's default password, masked in everything written.)
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from bot.config import Settings, without_userinfo
from bot.evidence.note import PublicKey, SigningKey
from bot.i18n import t

LOG_NAME = "cfdi-bot"
ORIGIN_SANDBOX = f"{LOG_NAME}/simulated-provider"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class KeyProblem(Exception):
    """The key cannot be used; `sentence` says why and what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def origin(settings: Settings) -> str:
    """`cfdi-bot/simulated-provider`, or `cfdi-bot/` and CFDI_ENDPOINT without its scheme,
    user name and password, query, or any character a signed-note name may not hold."""
    if settings.sandbox:
        return ORIGIN_SANDBOX
    address = _SCHEME.sub("", without_userinfo(settings.cfdi_endpoint)).removeprefix("***@")
    address = address.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return f"{LOG_NAME}/" + re.sub(r"[\s+]", "-", address)


def generate(path: Path, name: str, lang: str) -> PublicKey:
    """A new key at `path` (mode 0600, never over an existing file); its public key."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyProblem(t("checkpoint.key_exists", lang, path=path)) from None
    except OSError as exc:
        raise KeyProblem(t("checkpoint.key_unwritable", lang, path=path,
                           error=exc.strerror or exc)) from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return SigningKey(name, private).public


def load(path: Path, name: str, lang: str) -> SigningKey:
    """The key at `path`, refused (KeyProblem) when it is missing, readable or writable by
    anyone but its owner, or not an Ed25519 private key."""
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyProblem(t("checkpoint.key_missing", lang, path=path,
                           error=exc.strerror or exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyProblem(t("checkpoint.key_missing", lang, path=path, error="not a file"))
    if info.st_mode & 0o077:
        raise KeyProblem(t("checkpoint.key_open", lang, path=path,
                           mode=f"{stat.S_IMODE(info.st_mode):04o}"))
    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyProblem(t("checkpoint.key_unreadable", lang, path=path,
                           error=getattr(exc, "strerror", None) or type(exc).__name__)) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyProblem(t("checkpoint.key_unreadable", lang, path=path,
                           error="not an Ed25519 key"))
    return SigningKey(name, private)


def matches(key: SigningKey, recorded: str | None, path: Path, lang: str) -> None:
    """Refuse a key other than the one the audit file recorded at its first checkpoint."""
    if recorded is not None and recorded != key.public.text():
        raise KeyProblem(t("checkpoint.key_mismatch", lang, path=path, recorded=recorded,
                           found=key.public.text()))
