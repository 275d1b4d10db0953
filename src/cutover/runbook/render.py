"""Template rendering: jinja2's sandbox, strict about undefined names, errors located.

Only strings that contain ``{{`` or ``{%`` are templates; everything else is copied as is
(and jinja2 is not even imported when a document has no template). A string that is one
whole expression, ``"{{ x }}"``, keeps the value's type when it is a number, boolean or
list, so ``percent: "{{ ramp }}"`` stays an integer.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from cutover.errors import DocumentError, Problem
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

    return _bounded_sandbox()(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


MAX_RANGE_ITEMS = 1_000_000  #: items all ``range()`` calls of one template may produce
_range_budget: ContextVar[int] = ContextVar("cutover_range_budget", default=MAX_RANGE_ITEMS)
MAX_POWER_BITS = 100_000  #: ``a ** b`` whose result would need more bits is refused
MAX_LOOP_ITERATIONS = 100_000  #: ``{% for %}`` iterations one template may run, all loops
_loop_budget: ContextVar[int] = ContextVar("cutover_loop_budget", default=MAX_LOOP_ITERATIONS)
MAX_TEMPLATE_TAGS = 1_000  #: ``{{ }}`` and ``{% %}`` in one string (compiling is not cheap)
#: CPU seconds (of the loading thread) all templates of one document may take. CPU time,
#: not wall clock: a busy machine must not turn a valid runbook into a refusal (a run's
#: rollback reloads its runbook), while a template that loops burns CPU and is stopped.
RENDER_SECONDS = 1.0
_deadline: ContextVar[float | None] = ContextVar("cutover_render_deadline", default=None)
_LOOP_FILTER = "cutover_loop_budget"  #: wraps the iterable of every ``{% for %}``

P = ParamSpec("P")
R = TypeVar("R")


def bounded_rendering(load: Callable[P, R]) -> Callable[P, R]:
    """Give every template ``load`` renders, together, :data:`RENDER_SECONDS` of CPU time.

    A loader entry point wears this; one called inside another shares the outer deadline.
    """

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _deadline.get() is not None:
            return load(*args, **kwargs)
        deadline = _deadline.set(time.thread_time() + RENDER_SECONDS)
        try:
            return load(*args, **kwargs)
        finally:
            _deadline.reset(deadline)

    return wrapper


def _past_deadline() -> bool:
    deadline = _deadline.get()
    return deadline is not None and time.thread_time() > deadline


def _check_deadline() -> None:
    from jinja2.exceptions import SecurityError

    if _past_deadline():
        raise SecurityError(
            f"rendering took more than {RENDER_SECONDS:g} s of CPU (all templates of this document)"
        )


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    """``items``, each one counted against the loop budget, and the deadline checked."""
    from jinja2.exceptions import SecurityError

    for item in items:
        left = _loop_budget.get() - 1
        if left < 0:
            raise SecurityError(
                f"loops ran more than {MAX_LOOP_ITERATIONS:,} iterations in one template"
            )
        _loop_budget.set(left)
        _check_deadline()
        yield item


_WIDTH = re.compile(r"\d{7,}")  #: a format width of a million characters or more


def _too_big(value: Any) -> bool:
    """A number or a sized value that would let a template build a huge value."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_RENDERED
    if isinstance(value, str | bytes | list | tuple | dict):
        return len(value) > MAX_RENDERED
    return False


def _refused(what: str) -> Exception:
    from jinja2.exceptions import SecurityError

    return SecurityError(f"{what} would build a value over {MAX_RENDERED:,} characters")


def _check_arguments(what: str, args: Any, kwargs: Mapping[str, Any]) -> None:
    if any(_too_big(a) for a in (*args, *kwargs.values())):
        raise _refused(what)


def _check_format(what: str, template: Any) -> None:
    if isinstance(template, str) and _WIDTH.search(template):
        raise _refused(what)


def _bounded_filter(name: str, func: Any) -> Any:
    """``func``, a filter, refusing operands that would build values over the bound."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        _check_arguments(f"filter {name!r}", args[1:], kwargs)  # args[0]: value or env
        if name == "format":
            _check_format("filter 'format'", args[0] if args else None)
        return func(*args, **kwargs)

    return wrapper


def _check_operation(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left OPERATOR right`` when its result would be too big to build."""
    from jinja2.exceptions import SecurityError

    _check_deadline()
    seqs = (str, list, tuple)
    if operator == "**" and _power_bits(left, right) > MAX_POWER_BITS:
        raise SecurityError(f"{left} ** {right} needs more than {MAX_POWER_BITS:,} bits")
    if operator == "*" and _repeated_length(left, right) > MAX_RENDERED:
        raise _refused("repeating a value")
    if (
        operator == "+"
        and isinstance(left, seqs)
        and isinstance(right, seqs)
        and len(left) + len(right) > MAX_RENDERED
    ):
        raise _refused("adding these values")
    if operator == "%" and isinstance(left, str):
        _check_format("'%' formatting", left)
        _check_arguments("'%' formatting", right if isinstance(right, tuple) else (right,), {})


def _check_call(obj: Any, args: Any, kwargs: Mapping[str, Any]) -> None:
    """Refuse a call whose arguments are too big, or a ``range()`` over the budget."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import safe_range

    _check_deadline()
    name = getattr(obj, "__name__", None) or getattr(obj, "name", None) or "call"
    _check_arguments(f"{name}()", args, kwargs)
    if obj is safe_range:  # nested loops multiply: one budget per rendering
        items = len(safe_range(*args))
        left = _range_budget.get() - items
        if left < 0:
            raise SecurityError(f"ranges over more than {MAX_RANGE_ITEMS:,} items in one template")
        _range_budget.set(left)


@lru_cache(maxsize=1)
def _bounded_sandbox() -> type[SandboxedEnvironment]:
    """jinja2's immutable sandbox, also bounded in the memory and CPU a template may use.

    The stock sandbox refuses attribute walking (``__class__``, ``__globals__``…) and
    ranges over 100,000 items, but happily computes ``9 ** (9 ** 9)`` (forever),
    ``'a' * 10 ** 9`` (a gigabyte), ``'{:>999999999}'.format(1)`` or
    ``'x' | center(10 ** 9)``. Here the arithmetic operators (:func:`_check_operation`),
    every call (:func:`_check_call`), every filter and namespace assignment refuse
    operands that would build values over :data:`MAX_RENDERED`, with a
    :class:`~jinja2.exceptions.SecurityError` the renderer reports as a located problem.
    ``lipsum`` is gone: a runbook has no use for it.

    Time is bounded too: every ``{% for %}`` iterates through :func:`_counted` (the
    parsed template is rewritten so), which refuses more than :data:`MAX_LOOP_ITERATIONS`
    iterations in one template, so loops nested over a list built once
    (``{% for a in l %}{% for b in l %}…``) stop early; that, every call, operator and
    filter, and every chunk of output check the deadline of :func:`bounded_rendering`.
    (Defined in a function so that jinja2 is imported only when a document has a template.)
    """
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace

    class BoundedNamespace(Namespace):
        def __setitem__(self, name: str, value: Any) -> None:
            if _too_big(value):
                raise _refused(f"namespace attribute {name!r}")
            super().__setitem__(name, value)

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.filters = {k: _bounded_filter(k, f) for k, f in self.filters.items()}
            self.globals.pop("lipsum", None)
            self.globals["namespace"] = BoundedNamespace
            self.filters[_LOOP_FILTER] = _counted

        def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
            tree = super()._parse(source, name, filename)
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None)
            return tree

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_operation(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            _check_call(__obj, args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

        def wrap_str_format(self, value: Any) -> Any:
            name = getattr(value, "__name__", None)
            if name in ("format", "format_map"):
                _check_format(f"{name}()", getattr(value, "__self__", None))
            return super().wrap_str_format(value)

    return BoundedSandbox


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

        tags = text.count("{{") + text.count("{%")
        if tags > MAX_TEMPLATE_TAGS:
            self._problem(
                path,
                f"template has {tags:,} {{{{ }}}} and {{% %}} tags; the limit is"
                f" {MAX_TEMPLATE_TAGS:,}",
                "split it, or build the text with a loop",
            )
            return text
        env = _environment()
        _range_budget.set(MAX_RANGE_ITEMS)
        _loop_budget.set(MAX_LOOP_ITERATIONS)
        own_deadline = None
        if _deadline.get() is None:  # called outside a loader entry point
            own_deadline = _deadline.set(time.thread_time() + RENDER_SECONDS)
        whole = text.strip()
        single = whole.startswith("{{") and whole.endswith("}}") and whole.count("{{") == 1
        try:
            _check_deadline()  # compiling costs time too
            if single:
                value = env.compile_expression(whole[2:-2].strip(), undefined_to_none=False)(
                    **self.context
                )
                if isinstance(value, bool | int | float | list | dict) or value is None:
                    return value
                rendered = str(value)
            else:
                rendered = _render_bounded(env, text, self.context)
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
            if _past_deadline():  # the rest would be refused too, or cascade: stop here
                self._problem(path, f"template refused by the sandbox: {exc}", _SLOW_HINT)
                raise DocumentError([self.problems[-1]]) from None
            self._problem(path, f"template refused by the sandbox: {exc}", None)
            return text
        except Exception as exc:  # a filter or test failing on a user's value
            self._problem(path, f"template error: {type(exc).__name__}: {exc}", None)
            return text
        finally:
            if own_deadline is not None:
                _deadline.reset(own_deadline)
        if len(rendered) > MAX_RENDERED:
            self._problem(path, f"template renders to {len(rendered):,} characters", None)
            return text
        return rendered

    def _problem(self, path: PathKey, message: str, hint: str | None) -> None:
        self.problems.append(self.positions.problem(path, message, hint=hint))


_SLOW_HINT = "templates render in milliseconds: look for loops that multiply, or thousands of them"


def _power_bits(base: Any, exponent: Any) -> int:
    """About how many bits ``base ** exponent`` needs (0 when it is not an integer power)."""
    if type(base) is not int or type(exponent) is not int or exponent <= 0 or abs(base) < 2:
        return 0
    return abs(base).bit_length() * exponent


def _repeated_length(left: Any, right: Any) -> int:
    """The length of ``left * right`` when it repeats a sequence (0 otherwise)."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and type(times) is int:
            return len(seq) * times
    return 0


def _render_bounded(env: SandboxedEnvironment, text: str, context: Mapping[str, Any]) -> str:
    """Render, streaming: stop as soon as the output is over :data:`MAX_RENDERED`."""
    parts: list[str] = []
    size = 0
    for chunk in env.from_string(text).generate(**context):
        _check_deadline()
        size += len(chunk)
        if size > MAX_RENDERED:
            return "".join(parts) + chunk  # over the limit: the caller reports it
        parts.append(chunk)
    return "".join(parts)


def _undefined_name(message: str) -> str | None:
    # jinja2: "'name' is undefined" or "'dict object' has no attribute 'x'"
    if message.endswith("is undefined") and message.startswith("'"):
        return message.split("'")[1]
    if "has no attribute" in message:
        return message.rsplit("'", 2)[-2]
    return None


def _vars_hint() -> str:
    return "define it in `vars`, the environment's `vars`, --vars-file or --var key=value"
