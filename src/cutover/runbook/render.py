"""Template rendering: jinja2's sandbox, strict about undefined names, errors located.

Only strings that contain ``{{`` or ``{%`` are templates; everything else is copied as is
(and jinja2 is not even imported when a document has no template). A string that is one
whole expression, ``"{{ x }}"``, keeps the value's type when it is a number, boolean or
list, so ``percent: "{{ ramp }}"`` stays an integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cutover.errors import Problem
from cutover.runbook.document import PathKey, Positions
from cutover.runbook.problems import did_you_mean

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED = 1024 * 1024  #: a rendered string longer than this is refused


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


class Renderer:
    """Renders every template string of a data tree, collecting located problems."""

    def __init__(self, context: Mapping[str, Any], positions: Positions) -> None:
        self.context = dict(context)
        self.positions = positions
        self.problems: list[Problem] = []

    def render_tree(
        self, data: Any, path: PathKey = (), skip: frozenset[PathKey] = frozenset()
    ) -> Any:
        """A copy of ``data`` with templates rendered; paths in ``skip`` are copied verbatim."""
        if path in skip:
            return data
        if isinstance(data, dict):
            return {k: self.render_tree(v, (*path, k), skip) for k, v in data.items()}
        if isinstance(data, list):
            return [self.render_tree(v, (*path, i), skip) for i, v in enumerate(data)]
        if isinstance(data, str) and is_template(data):
            return self.render_string(data, path)
        return data

    def render_string(self, text: str, path: PathKey) -> Any:
        from jinja2 import TemplateSyntaxError, UndefinedError
        from jinja2.exceptions import SecurityError

        env = _environment()
        whole = text.strip()
        single = whole.startswith("{{") and whole.endswith("}}") and whole.count("{{") == 1
        try:
            if single:
                value = env.compile_expression(whole[2:-2].strip(), undefined_to_none=False)(
                    **self.context
                )
                if isinstance(value, bool | int | float | list | dict) or value is None:
                    return value
                rendered = str(value)
            else:
                rendered = env.from_string(text).render(**self.context)
        except UndefinedError as exc:
            name = _undefined_name(str(exc.message or ""))
            hint = did_you_mean(name, self.context) if name else None
            if hint is None or not hint.startswith("did you mean"):
                hint = _vars_hint()
            self._problem(path, f"template: {exc.message}", hint)
            return text
        except TemplateSyntaxError as exc:
            self._problem(path, f"template syntax: {exc.message}", "check the {{ }} brackets")
            return text
        except SecurityError as exc:
            self._problem(path, f"template refused by the sandbox: {exc}", None)
            return text
        except Exception as exc:  # a filter or test failing on a user's value
            self._problem(path, f"template error: {type(exc).__name__}: {exc}", None)
            return text
        if len(rendered) > MAX_RENDERED:
            self._problem(path, f"template renders to {len(rendered):,} characters", None)
            return text
        return rendered

    def _problem(self, path: PathKey, message: str, hint: str | None) -> None:
        self.problems.append(self.positions.problem(path, message, hint=hint))


def _undefined_name(message: str) -> str | None:
    # jinja2: "'name' is undefined" or "'dict object' has no attribute 'x'"
    if message.endswith("is undefined") and message.startswith("'"):
        return message.split("'")[1]
    if "has no attribute" in message:
        return message.rsplit("'", 2)[-2]
    return None


def _vars_hint() -> str:
    return "define it in `vars`, the environment's `vars`, --vars-file or --var key=value"
