"""What the store writes as JSON never holds a secret, in any of its forms, and costs a
single encoding when none is there."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from storage.chain import canonical_json
from storage.redact import MASK, variants
from storage.store import AuditStore

# A password with the characters JSON escapes, and one that is not ASCII.
SECRETS = ['pa"ss\\wörd-1', "xoxb-123-token"]


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return AuditStore.open(tmp_path / "audit.db", secrets=SECRETS)


@pytest.mark.parametrize("form", [SECRETS[0], SECRETS[1],
                                  base64.b64encode(SECRETS[0].encode()).decode()])
def test_a_secret_deep_in_a_large_value_is_masked(store: AuditStore, form: str) -> None:
    value = {"invoices": [{"ref": f"A-{n}", "detalle": "ok"} for n in range(2_000)]}
    value["invoices"][1_500]["detalle"] = f"error: {form} rechazado"
    value[f"key {form}"] = 1
    written = store.scrub_json(value)
    assert not any(v in written for v in variants(SECRETS[0]) | variants(SECRETS[1]))
    assert written.count(MASK) == 2


def test_a_value_without_secrets_is_written_as_it_is(store: AuditStore) -> None:
    value = {"invoices": [{"ref": f"A-{n}", "detalle": 'dice "sí" \\ no'} for n in range(50)]}
    assert store.scrub_json(value) == canonical_json(value)
