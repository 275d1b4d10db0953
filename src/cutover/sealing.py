"""Credentials inside the journal's snapshots: sealed on the way in, reopened for a rollback.

A step's prior state and record (what it replaced, what it wrote) go into the journal so
that a rollback can restore them, and configuration often carries credentials. Before
they are stored, every string in them is *sealed*:

1. every occurrence of a value resolved from a secret reference is replaced by a token
   naming the reference, ``${secret:env:NAME}`` (a literal ``${secret:`` or ``${sealed:``
   already in the text is written ``${secret:$}`` / ``${sealed:$}``, so the sealed text
   reads back unambiguously);
2. every match of a ``sensitive`` pattern (of the runbook's ``state:`` section or of the
   step), and the whole value of a field whose name matches one, is replaced by
   ``${sealed:CIPHERTEXT}``: Fernet (AES-128-CBC with HMAC-SHA256) under a key derived
   from the secret that ``state.key`` names;
3. what is left goes through :func:`cutover.secrets.redact` as every journal text does
   (a secret in a transformed spelling, base64 say, still becomes ``[REDACTED]``: that
   one cannot be restored, and is a reason to mark the field sensitive).

:meth:`Sealer.open` reverses it for a rollback: ciphertexts are decrypted and references
resolved again, so the exact original bytes are restored. Everything that only shows the
journal (``show``, ``status``, reports) reads the sealed form: references and ciphertext,
never the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cutover.errors import SecretError
from cutover.secrets import redact, resolve, resolved_references

if TYPE_CHECKING:
    from cutover.runbook.models import Runbook

#: ``${secret:REF}`` or ``${sealed:CIPHERTEXT}``; ``$`` as the body stands for the prefix itself
_TOKEN = re.compile(r"\$\{(secret|sealed):(\$|(?:env|file):[^}$\s\"\\]*|[A-Za-z0-9_=-]+)\}")
#: references a token can carry and JSON carries unchanged (others stay ``[REDACTED]``)
_TOKEN_SAFE = re.compile(r"(?:env|file):[^}$\s\"\\]*")
_PREFIX = re.compile(r"\$\{(secret|sealed):")
_KEY_INFO = b"cutover journal sealing v1"


def _key_of(secret: str) -> bytes:
    """A Fernet key from the secret ``state.key`` names (HKDF-SHA256 of its bytes)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Sensitive:
    """One entry of a ``sensitive`` list.

    A field name (``Authorization``): a field of that name (any letter case) is sealed
    whole, and in a text the value after the name (``Authorization: …``,
    ``Authorization "…"``, ``password=…``) up to the end of the line or a ``;``. Anything
    else is a regular expression: each match is sealed, or only its ``value`` group if it
    has one."""

    key: re.Pattern[str] | None
    text: re.Pattern[str]

    @classmethod
    def of(cls, entry: str) -> Sensitive:
        if _NAME.fullmatch(entry):
            name = re.escape(entry)
            return cls(
                re.compile(name, re.IGNORECASE),
                re.compile(
                    rf"(?<![\w-]){name}(?![\w-])[\"']?(?:\s*[:=]\s*|\s+)(?P<value>[^\n;]+)",
                    re.IGNORECASE,
                ),
            )
        return cls(None, re.compile(entry))

    def seal(self, text: str, encrypt: Callable[[str], str]) -> str:
        def replace(match: re.Match[str]) -> str:
            group = "value" if "value" in match.re.groupindex else 0
            start, end = match.span(group)
            if start == end:
                return match.group(0)
            whole = match.group(0)
            offset = match.start(0)
            return whole[: start - offset] + encrypt(match.group(group)) + whole[end - offset :]

        return self.text.sub(replace, text)


@dataclass
class Sealer:
    """How one runbook's snapshots are sealed: its sensitive entries and key reference."""

    key_ref: str | None = None
    everywhere: Sequence[Sensitive] = ()  #: the runbook's ``state.sensitive``
    by_step: Mapping[tuple[str, int], Sequence[Sensitive]] = field(default_factory=dict)
    _fernet: Any = None

    @classmethod
    def for_runbook(cls, runbook: Runbook) -> Sealer:
        state = runbook.state
        by_step = {
            (stage.name, number): [Sensitive.of(p) for p in step.sensitive]
            for stage in runbook.stages
            for number, step in enumerate(stage.steps)
            if step.sensitive
        }
        return cls(state.key, [Sensitive.of(p) for p in state.sensitive], by_step)

    def rules(self, stage: str | None, step: int | None) -> list[Sensitive]:
        """The entries that apply to an event of ``stage``/``step``: the runbook's, and the
        step's; for an event of no one step (the final-state check), every step's."""
        if stage is None or step is None:
            return [*self.everywhere, *(r for rules in self.by_step.values() for r in rules)]
        return [*self.everywhere, *self.by_step.get((stage, step), ())]

    # --- sealing ------------------------------------------------------------------------------

    def seal(
        self,
        value: Any,
        stage: str | None = None,
        step: int | None = None,
        *,
        restorable: bool = True,
    ) -> Any:
        """``value`` (JSON-like data) sealed for the journal (see the module docstring).

        Not ``restorable`` (an event's other fields: messages, differences): secrets are
        redacted rather than referenced, sensitive values still encrypted."""
        return self._seal(value, self.rules(stage, step), False, restorable)

    def _seal(self, value: Any, rules: Sequence[Sensitive], whole: bool, restorable: bool) -> Any:
        if isinstance(value, str):
            return redact_outside_tokens(self._seal_text(value, rules, whole, restorable))
        if isinstance(value, dict):
            return {
                redact_outside_tokens(self._seal_text(str(k), (), False, restorable)): self._seal(
                    v,
                    rules,
                    whole or any(r.key and r.key.fullmatch(str(k)) for r in rules),
                    restorable,
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._seal(v, rules, whole, restorable) for v in value]
        return value

    def _seal_text(
        self, text: str, rules: Sequence[Sensitive], whole: bool, restorable: bool
    ) -> str:
        if restorable:
            text = by_reference(text)
        if whole:
            return self._encrypted(text) if text else text
        for rule in rules:
            text = rule.seal(text, self._encrypted)
        return text

    def _encrypted(self, text: str) -> str:
        token = self._cipher().encrypt(text.encode("utf-8")).decode("ascii")
        return f"${{sealed:{token}}}"

    def _cipher(self) -> Any:
        if self._fernet is None:
            if self.key_ref is None:  # the loader refuses `sensitive` without a key
                raise SecretError(
                    "a sensitive value cannot be sealed: no state.key is configured",
                    hint="set state.key: env:CUTOVER_STATE_KEY in the runbook",
                )
            from cryptography.fernet import Fernet

            self._fernet = Fernet(_key_of(resolve(self.key_ref)))
        return self._fernet

    # --- opening ------------------------------------------------------------------------------

    def open(self, value: Any) -> Any:
        """``value`` as it was before :meth:`seal`: ciphertexts decrypted, references
        resolved again (raises :class:`SecretError` when one cannot be)."""
        if isinstance(value, str):
            return self.open_text(value)
        if isinstance(value, dict):
            return {self.open_text(str(k)): self.open(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open(v) for v in value]
        return value

    def open_snapshot(self, data: dict[str, Any]) -> dict[str, Any]:
        """A journaled prior state or record as it was (:meth:`open`)."""
        return dict(self.open(data))

    def open_text(self, text: str) -> str:
        if "${" not in text:
            return text
        decrypted = _TOKEN.sub(self._decrypt, text)
        return _TOKEN.sub(_resolve_token, decrypted)

    def _decrypt(self, match: re.Match[str]) -> str:
        kind, body = match.group(1), match.group(2)
        if kind != "sealed" or body == "$":
            return match.group(0)  # for the second pass
        from cryptography.fernet import InvalidToken

        try:
            return str(self._cipher().decrypt(body.encode("ascii")).decode("utf-8"))
        except InvalidToken:
            raise SecretError(
                "a sealed value in the journal cannot be decrypted with the key state.key names",
                hint=f"set {self.key_ref} to the key the run was made with",
            ) from None


def by_reference(text: str) -> str:
    """``text`` with each resolved secret replaced by ``${secret:REF}`` and each literal
    token prefix escaped, in one pass (one regex: no replacement is scanned again)."""
    references = {v: r for v, r in resolved_references().items() if _TOKEN_SAFE.fullmatch(r)}
    alternatives = [_PREFIX.pattern, *map(re.escape, sorted(references, key=len, reverse=True))]
    if len(alternatives) == 1 and "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if found in references:
            return f"${{secret:{references[found]}}}"
        return f"${{{match.group(1)}:$}}"

    return re.sub("|".join(alternatives), replace, text)


def redact_outside_tokens(text: str) -> str:
    """``text`` redacted (:func:`cutover.secrets.redact`) except inside its tokens: a
    ciphertext must come back byte for byte, and a reference holds no secret."""
    if "${" not in text:
        return redact(text)
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        out.extend((redact(text[last : match.start()]), match.group(0)))
        last = match.end()
    out.append(redact(text[last:]))
    return "".join(out)


def _resolve_token(match: re.Match[str]) -> str:
    kind, body = match.group(1), match.group(2)
    if body == "$":
        return f"${{{kind}:"
    if kind == "secret" and body.startswith(("env:", "file:")):
        return resolve(body)
    return match.group(0)  # pragma: no cover  (the first pass decrypted every sealed token)
