"""Checkpoints of the audit log as C2SP signed notes (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint), adapted to a hash chain.

A checkpoint's note text, each line ending in a newline:

    cfdi-bot/simulated-provider          origin: the log's name and the provider it belongs to
    42                                   the number of events (the chain's "tree size")
    3q2+7w...=                           the newest event's hash, base64 (the "root hash")
    time 2026-12-03T17:00:00.000000Z     extension line: when it was signed (UTC)
    previous Ab3x...= | previous none    extension line: the previous checkpoint's signature

then a blank line and the signature line `— <key name> base64(key ID || Ed25519 signature)`.
The adaptation: tlog-checkpoint's third line is an RFC 6962 Merkle root; here it is the hash
of event number <size>, which commits to every event before it through the chain. There are
no consistency proofs: a verifier holds the whole log and walks it. The two extension lines
chain each checkpoint to the one before, so a checkpoint missing from a copy shows.

Public keys travel in the text form of Go's note verifiers (`name+keyid+base64(0x01||key)`),
key IDs as signed-note recommends: SHA-256(name || 0x0A || 0x01 || public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"      # signed-note's signature type byte for Ed25519
DASH = "\u2014"        # em dash: starts every signature line
NO_PREVIOUS = "none"
_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


class NoteError(ValueError):
    """A note that cannot be read, or whose signature does not hold; the message says why."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{text[:20]!r} is not base64") from None


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


@dataclass(frozen=True)
class PublicKey:
    """Who signs the checkpoints: a key name and an Ed25519 public key."""

    name: str
    raw: bytes  # 32 bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.raw)

    def text(self) -> str:
        """`name+keyid+base64(0x01||key)`: what people keep and pass to --public-key."""
        return f"{self.name}+{self.id.hex()}+{b64(ED25519 + self.raw)}"

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        parts = text.strip().split("+", 2)  # the key's base64 may hold more
        if len(parts) != 3 or not valid_name(parts[0]):
            raise NoteError("a public key reads name+keyid+key")
        name, hex_id, encoded = parts
        data = unb64(encoded)
        if len(data) != 33 or data[:1] != ED25519:
            raise NoteError("the public key is not an Ed25519 key")
        key = cls(name, data[1:])
        if hex_id.lower() != key.id.hex():
            raise NoteError("the public key's ID does not match its name and key")
        return key

    def verifies(self, text: str, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, text.encode())
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """The private half, named: signs note texts."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(self.name, raw)

    def sign(self, text: str) -> str:
        """The signature line's base64 part: key ID || signature over `text`."""
        return b64(self.public.id + self.private.sign(text.encode()))


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint says about the log."""

    origin: str
    size: int               # events in the log
    head: str               # hex SHA-256 of event number `size` (64 zeros when empty)
    time: str               # UTC, as the store writes times
    previous: str | None    # the previous checkpoint's signature (base64), None for the first

    def text(self) -> str:
        head = b64(bytes.fromhex(self.head))
        return (f"{self.origin}\n{self.size}\n{head}\ntime {self.time}\n"
                f"previous {self.previous or NO_PREVIOUS}\n")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 6 or lines[-1] != "":
            raise NoteError("a checkpoint has five lines: origin, size, head, time, previous")
        origin, size, head, time, previous = lines[:5]
        if not origin or not _SIZE.match(size):
            raise NoteError("its second line is not a number of events")
        raw = unb64(head)
        if len(raw) != 32:
            raise NoteError("its third line is not a SHA-256 hash")
        if not time.startswith("time ") or not _TIME.match(time[5:]):
            raise NoteError("its fourth line is not `time <UTC time>`")
        if not previous.startswith("previous ") or not previous[9:]:
            raise NoteError("its fifth line is not `previous <signature>`")
        before = previous[9:]
        if before != NO_PREVIOUS:
            unb64(before)
        return cls(origin, int(size), raw.hex(), time[5:],
                   None if before == NO_PREVIOUS else before)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the signature that made it: what is published and recorded."""

    checkpoint: Checkpoint
    signature: str   # base64(key ID || signature) of the log's key
    note: str        # the whole signed note, as published

    @classmethod
    def sign(cls, checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
        text = checkpoint.text()
        signature = key.sign(text)
        return cls(checkpoint, signature, f"{text}\n{DASH} {key.name} {signature}\n")


def split(note: str) -> tuple[str, list[tuple[str, str]]]:
    """The note text (with its final newline) and its signature lines (name, base64)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters")
    cut = note.rstrip("\n").rfind("\n\n")
    if cut < 0:
        raise NoteError("no blank line before the signatures")
    text, lines = note[:cut + 1], note[cut + 2:].rstrip("\n").split("\n")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not valid_name(parts[1]):
            raise NoteError("a signature line reads `— <key name> <signature>`")
        signatures.append((parts[1], parts[2]))
    return text, signatures


def open_text(note: str, key: PublicKey) -> tuple[str, str]:
    """The note's text and `key`'s signature (base64) when `key` signed it. Raises NoteError
    saying why not: no signature of this key (other keys' lines are ignored, as signed-note
    requires), or one that does not verify."""
    text, signatures = split(note)
    others = []
    for name, encoded in signatures:
        data = unb64(encoded)
        if name != key.name or data[:4] != key.id:
            others.append(f"{name} ({data[:4].hex()})")
            continue
        if not key.verifies(text, data[4:]):
            raise NoteError(f"its signature by {key.name} ({key.id.hex()}) does not verify: "
                            "the text was changed after signing")
        return text, encoded
    raise NoteError(f"it is not signed by the key {key.name} ({key.id.hex()}) but by "
                    + ", ".join(others))


def open_note(note: str, key: PublicKey) -> SignedCheckpoint:
    """The checkpoint in `note` if `key` signed it (NoteError otherwise, as `open_text`)."""
    text, signature = open_text(note, key)
    return SignedCheckpoint(Checkpoint.parse(text), signature, note)
