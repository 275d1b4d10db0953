"""Sealing a snapshot for the journal: no credential stays, and opening gives the original.

A table of texts that try to confuse the token syntax (a literal ``${secret:``, a ``$``
before a secret, a secret next to a sensitive match, a sensitive pattern that matches
inside a reference token) and of JSON-like data (a sensitive field, nested lists), each
sealed, serialised, parsed and opened again.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from cutover import secrets as cutover_secrets
from cutover.errors import SecretError
from cutover.journal import Journal
from cutover.sealing import Sealer, Sensitive

TOKEN = f"tok-{secrets.token_hex(12)}"
KEY = secrets.token_urlsafe(32)
AWS = "AWSABCDEFGHIJKLMNOP"


@pytest.fixture(autouse=True)
def resolved(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("UPSTREAM_TOKEN", TOKEN)
    monkeypatch.setenv("STATE_KEY", KEY)
    cutover_secrets.resolve("env:UPSTREAM_TOKEN")
    yield


def sealer() -> Sealer:
    rules = [Sensitive.of(e) for e in ("Authorization", r"AWS[0-9A-Z]{16}", r"KEY_[A-Z_]{3}")]
    return Sealer("env:STATE_KEY", rules)


CASES: dict[str, Any] = {
    "nginx header": f'proxy_set_header Authorization "Bearer {TOKEN}";\nreturn 200;',
    "bare secret": f"token={TOKEN}",
    "dollar before secret": f"${TOKEN}$",
    "literal token prefixes": "${secret:env:X} ${sealed:abc} $${secret:$} ${secret:",
    "secret then pattern": f"{TOKEN}{AWS}",
    "pattern inside a reference": f"x {TOKEN} KEY_ABC",
    "header text": f"Authorization: Basic {TOKEN}\r\nHost: a",
    "json data": {
        "Authorization": f"Bearer {TOKEN}",
        "headers": [{"x-aws": AWS}, 3, None, True],
        TOKEN: "a secret as a key",
    },
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sealed_data_holds_no_credential_and_opens_to_the_original(name: str) -> None:
    value = CASES[name]
    stored = json.dumps(sealer().seal(value))
    assert TOKEN not in stored
    assert AWS not in stored
    assert sealer().open(json.loads(stored)) == value


def test_a_secret_is_stored_as_its_reference_and_a_sensitive_value_encrypted() -> None:
    stored = sealer().seal(f"a {TOKEN} b {AWS} c")
    assert stored.startswith("a ${secret:env:UPSTREAM_TOKEN} b ${sealed:gAAAAA")
    assert stored.endswith("} c")


def test_only_snapshots_keep_references_other_fields_are_redacted(tmp_path: Any) -> None:
    with Journal(tmp_path / "journal.db") as journal:
        journal.seal_with(sealer())
        journal.start_run("r1", "rb", "rb.yml", "lab", {})
        journal.event("r1", "intent", stage="s", step=0, name="n", prior={"v": TOKEN})
        journal.event("r1", "apply_failed", stage="s", step=0, error=f"refused {TOKEN} {AWS}")
        prior, failed = (e.data for e in journal.events("r1"))
        assert prior["prior"] == {"v": "${secret:env:UPSTREAM_TOKEN}"}
        assert failed["error"].startswith("refused [REDACTED] ${sealed:gAAAAA")
        assert journal.steps("r1")[0].prior == {"v": TOKEN}
        assert journal.steps("r1")[0].stored_prior == {"v": "${secret:env:UPSTREAM_TOKEN}"}


def test_a_ciphertext_under_another_key_is_refused() -> None:
    stored = sealer().seal(AWS)
    other = Sealer("env:OTHER_KEY", sealer().everywhere)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTHER_KEY", secrets.token_urlsafe(32))
        with pytest.raises(SecretError, match=r"cannot be decrypted with the key state\.key names"):
            other.open(stored)


@pytest.mark.parametrize(
    ("entry", "text", "sealed_part"),
    [
        ("Authorization", 'proxy_set_header Authorization "Bearer x";', '"Bearer x"'),
        ("authorization", "Authorization: Bearer x", "Bearer x"),
        ("password", "password=hunter22\nuser=a", "hunter22"),
        (r"Bearer (?P<value>\w+)", "Bearer abc def", "abc"),
        (r"AWS[0-9A-Z]{16}", f"k={AWS}", AWS),
    ],
)
def test_a_sensitive_entry_seals_what_it_names(entry: str, text: str, sealed_part: str) -> None:
    rule = Sealer("env:STATE_KEY", [Sensitive.of(entry)])
    stored = rule.seal(text)
    assert re.sub(r"\$\{sealed:[\w=-]+\}", "SEALED", stored) == text.replace(
        sealed_part, "SEALED", 1
    )
    assert rule.open(stored) == text
