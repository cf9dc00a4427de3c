"""The checkpoints' text form: C2SP signed notes (c2sp.org/signed-note), with the key IDs and
public key text of Go's golang.org/x/mod/sumdb/note, checked against that package's own
published example; and the checkpoint body (bot/evidence/note.py says how it adapts
tlog-checkpoint to a hash chain)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.evidence.note import (
    Checkpoint,
    NoteError,
    PublicKey,
    SignedCheckpoint,
    SigningKey,
    open_note,
    open_text,
)
from bot.evidence.publishing import EVENT_TYPE, note_of

# golang.org/x/mod/sumdb/note's documented example: its keys, text and signed note.
GO_PUBLIC = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_SIGNATURE = ("x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE"
                "6RyyBwJnAM=")
GO_NOTE = f"{GO_TEXT}\n— PeterNeumann {GO_SIGNATURE}\n"
HEAD = hashlib.sha256(b"head").hexdigest()


def go_signing_key() -> SigningKey:
    seed = base64.b64decode(GO_PRIVATE.split("+", 4)[4])[1:]  # 0x01 || the 32-byte seed
    return SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def test_go_s_example_verifies_and_our_signer_writes_it_byte_for_byte() -> None:
    key = PublicKey.parse(GO_PUBLIC)
    assert key.text() == GO_PUBLIC
    assert open_text(GO_NOTE, key) == (GO_TEXT, GO_SIGNATURE)
    signer = go_signing_key()
    assert signer.public == key
    assert signer.sign(GO_TEXT) == GO_SIGNATURE  # Ed25519 is deterministic


def test_the_key_id_is_signed_notes_recommended_hash() -> None:
    key = PublicKey.parse(GO_PUBLIC)
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + key.raw).digest()[:4]
    assert key.id == expected == bytes.fromhex("c74f20a3")


def test_a_checkpoint_is_origin_size_head_then_time_and_previous() -> None:
    signer = go_signing_key()
    signer = SigningKey("cfdi-bot/simulated-provider", signer.private)
    first = SignedCheckpoint.sign(Checkpoint(signer.name, 42, HEAD,
                                             "2026-12-03T17:00:00.000000Z", None), signer)
    text, _, signature_line = first.note.rpartition("\n\n")
    assert text.split("\n") == [
        "cfdi-bot/simulated-provider", "42", base64.b64encode(bytes.fromhex(HEAD)).decode(),
        "time 2026-12-03T17:00:00.000000Z", "previous none"]
    assert signature_line == f"— cfdi-bot/simulated-provider {first.signature}\n"
    assert base64.b64decode(first.signature)[:4] == signer.public.id
    second = SignedCheckpoint.sign(Checkpoint(signer.name, 50, HEAD,
                                              "2026-12-03T18:00:00.000000Z",
                                              first.signature), signer)
    assert f"\nprevious {first.signature}\n\n" in second.note
    assert open_note(second.note, signer.public) == second


def test_another_key_or_a_changed_text_is_refused() -> None:
    ours = SigningKey("cfdi-bot/simulated-provider", Ed25519PrivateKey.generate())
    theirs = SigningKey("cfdi-bot/simulated-provider", Ed25519PrivateKey.generate())
    signed = SignedCheckpoint.sign(Checkpoint(ours.name, 1, HEAD, "2026-12-03T17:00:00Z",
                                              None), theirs)
    with pytest.raises(NoteError, match=f"not signed by the key cfdi-bot/simulated-provider "
                                        f"\\({ours.public.id.hex()}\\) but by"):
        open_note(signed.note, ours.public)
    mine = SignedCheckpoint.sign(Checkpoint(ours.name, 1, HEAD, "2026-12-03T17:00:00Z",
                                            None), ours)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(mine.note.replace("\n1\n", "\n2\n", 1), ours.public)


@pytest.mark.parametrize("text", [
    "origin\n01\nAAAA\ntime 2026-12-03T17:00:00Z\nprevious none\n",        # leading zero
    "origin\n1\nAAAA\ntime 2026-12-03T17:00:00Z\nprevious none\n",         # not 32 bytes
    f"origin\n1\n{base64.b64encode(bytes(32)).decode()}\nprevious none\n",  # no time
    "",
])
def test_a_malformed_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


@pytest.mark.parametrize("value", [GO_PUBLIC.replace("c74f20a3", "c74f20a4"),
                                   GO_PUBLIC.replace("c74f20a3+", ""),
                                   GO_PUBLIC.replace("PeterNeumann", "Peter Neumann")])
def test_a_mangled_public_key_is_refused(value: str) -> None:
    with pytest.raises(NoteError):
        PublicKey.parse(value)


def test_a_channel_message_is_a_checkpoint_by_its_metadata_or_an_app_s_code_block() -> None:
    note = f"{GO_TEXT}\n— PeterNeumann {GO_SIGNATURE}\n"
    assert note_of({"metadata": {"event_type": EVENT_TYPE, "event_payload": {"note": note}},
                    "text": "anything"}) == note
    text = f"🔏 Checkpoint\n```{note.rstrip()}```"
    assert note_of({"bot_id": "B01", "text": text}) == note
    assert note_of({"user": "U0ANA", "text": text}) is None   # a person quoting one
    assert note_of({"bot_id": "B01", "text": "no note here"}) is None
