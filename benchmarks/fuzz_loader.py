"""Fuzz the runbook and checks-file loader with generated and mutated documents.

Every input goes through ``document.parse_document`` (raw bytes) and then through the
loader (``check_runbook`` and ``load_runbook`` for runbooks, ``load_checks`` for checks
files). The only acceptable outcomes are success or a :class:`~cutover.errors.InputError`
(``DocumentError`` and friends) whose every problem names a location: a file, line ≥ 1,
column ≥ 1 and a path string. Anything else is a traceback, and is counted.

Families of hostile input (each generated from a seeded ``random.Random``):

- ``bytes``: byte-level mutations of the shipped runbooks and checks file
  (flip, insert, delete, duplicate, splice in YAML and template tokens);
- ``wrong_types``: the shipped documents parsed, a value at a random path replaced by a
  value of the wrong type (or deleted, or its key renamed), dumped again;
- ``bomb``: anchors and aliases that multiply ("billion laughs"), merge keys, nested;
- ``deep``: deeply nested flow and block collections;
- ``huge``: huge scalars, keys and line counts (some over the file size limit);
- ``utf8``: invalid UTF-8 at various offsets (stray, truncated, overlong, surrogates);
- ``dupkeys``: duplicate mapping keys, block and flow, at any depth;
- ``tabs``: tabs in indentation and after indicators;
- ``unicode``: bidi controls, NUL, C1 controls, BOMs, line separators, escaped surrogates;
- ``templates``: malformed and hostile jinja2 templates (syntax errors, sandbox escapes,
  memory and CPU bombs).

    python benchmarks/fuzz_loader.py [--inputs N] [--seed S] [--slow-ms MS]

Prints ``name=value`` lines: ``inputs accepted rejected tracebacks unlocated slow
seconds slowest_ms`` (``slowest_ms``: the slowest single loader call; ``slow``: calls over
``--slow-ms``) and the count per family; each traceback, unlocated rejection or slow
call is printed as a ``finding=`` line with the family and a reproducer file.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.errors import InputError, Problem  # noqa: E402
from cutover.runbook import document  # noqa: E402
from cutover.runbook.loader import check_runbook, load_checks, load_runbook  # noqa: E402

RUNBOOKS = [ROOT / "runbooks" / "pypi-files.yml", ROOT / "runbooks" / "pypi-2018-replay.yml"]
CHECKS = ROOT / "checks" / "pypi-files.yml"


@dataclass(frozen=True)
class Case:
    family: str
    kind: str  #: "runbook" or "checks"
    raw: bytes


@dataclass
class Outcome:
    accepted: bool
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  #: a traceback: anything but success or an InputError
    unlocated: list[str] = field(default_factory=list)
    seconds: float = 0.0  #: the whole case
    slowest_call: float = 0.0  #: the slowest single loader call


# --- the shipped documents, as bytes and as data ---------------------------------------------


def _seed_bytes() -> list[tuple[str, bytes]]:
    return [("runbook", p.read_bytes()) for p in RUNBOOKS] + [("checks", CHECKS.read_bytes())]


SEEDS = _seed_bytes()


def _data(raw: bytes) -> Any:
    return document.parse_document(raw, "seed.yml").data


SEED_DATA = [(kind, _data(raw)) for kind, raw in SEEDS]


def dump(data: Any) -> bytes:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().encode("utf-8", "surrogatepass")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = _copy(data)
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return data


# --- values -----------------------------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "\u202e",  # right-to-left override
    "\u2066evil\u2069",  # bidi isolates
    "\u200b",  # zero width space
    "\ufeff",  # a BOM inside a value
    "\u2028",  # line separator
    "\x85",  # NEL
    "\x1b[31mred\x1b[0m",  # terminal escapes
    "é" * 3,
    "🙂",
    "1e999",
    "-0",
    "null",
    "~",
    "yes",
    "0x1F",
    "0o17",
    "1_000",
    ".nan",
    "env:",
    "file:/etc/shadow",
    "../../../../etc/passwd",
    "a\x00b",
    "x" * 5000,
    "a" * 300,
]

TEMPLATES = [
    "{{",
    "}}",
    "{{ }}",
    "{% for %}",
    "{% if x %}",
    "{% endif %}",
    "{{ nope }}",
    "{{ scheme.nope }}",
    "{{ 1/0 }}",
    "{{ 'a' + 1 }}",
    "{{ [] | first }}",
    "{{ x | nosuchfilter }}",
    "{% raw %}{{ x }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0.__globals__}'.format(cycler.__init__) }}",
    "{{ '%s' % ''.__class__ }}",
    "{{ 'a' * 100000000 }}",
    "{{ 'a' * 1000 * 1000 * 1000 }}",
    "{{ [1] * 100000000 }}",
    "{{ 2 ** 100000000 }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=999999999) }}",
    "{{ 'x' | center(999999999) }}",
    "{{ 'x' | indent(999999999, true) }}",
    "{{ range(100000) | list | length }}",
    "{{ range(10 ** 9) | list }}",
    "{{ lipsum(100000) }}",
    "{% for i in range(100000) %}{{ 'abcdefghij' * 10 }}{% endfor %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% set x = 'a' %}{% for i in range(40) %}{% set x = x ~ x %}{% endfor %}{{ x }}",
    "{{ 'x' ~ ('y' * 900000) ~ ('z' * 900000) }}",
    "{% include 'etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends 'base' %}",
    "{{ environment }}",
    "{{ lab }}",
    "{{ vars }}",
    "{{ scheme }}",
    "{{ project | upper }}",
    "{{ 1 if true else 2 }}",
    "{{ {'a': 1} }}",
    "{{ [1, 2, 3] }}",
    "{{ none }}",
    "{{ '\\x00' }}",
    "{# unclosed comment",
]


def wrong_value(rng: random.Random) -> Any:
    choice = rng.randrange(12)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**64), 10**400])
    if choice == 3:
        return rng.choice([0.5, -1.5, 1e308, float("inf"), float("-inf"), float("nan")])
    if choice == 4:
        return rng.choice(ODD_TEXT)
    if choice == 5:
        return rng.choice(TEMPLATES)
    if choice == 6:
        return [wrong_value(rng) for _ in range(rng.randrange(4))]
    if choice == 7:
        return {rng.choice(["kind", "name", "x", "", "0", "steps"]): wrong_value(rng)}
    if choice == 8:
        value: Any = "leaf"
        for _ in range(rng.randrange(1, 40)):
            value = {"k": value} if rng.random() < 0.5 else [value]
        return value
    if choice == 9:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 30)))
    if choice == 10:
        return "x" * rng.choice([1000, 100_000])
    return rng.choice(["1s", "-1s", "1y", "500ms", "1e3s", "", "0", "fastly", "shell"])


# --- families ---------------------------------------------------------------------------------

TOKENS = [
    b"&a ",
    b"*a",
    b"*b ",
    b"<<: *a\n",
    b"!!python/object:os.system ",
    b"!!python/name:os.system",
    b"!!binary ",
    b"!!timestamp ",
    b"!!set ",
    b"!!omap ",
    b"!custom ",
    b"{",
    b"}",
    b"[",
    b"]",
    b": ",
    b"- ",
    b"? ",
    b"\t",
    b'"',
    b"'",
    b"|",
    b">-",
    b"%YAML 1.1\n",
    b"%TAG ! tag:x,2000:\n",
    b"---\n",
    b"...\n",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"#",
    b"\n",
    b"\r",
    b"\x00",
    b"\\",
    b"~",
    b".inf",
    b"0x",
]


def family_bytes(rng: random.Random) -> Case:
    kind, raw = rng.choice(SEEDS)
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            i = min(at, len(data) - 1)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[at:at] = bytes([rng.randrange(256)])
        elif op == 2:
            del data[at : at + rng.randrange(1, 80)]
        elif op == 3:
            end = min(len(data), at + rng.randrange(1, 200))
            data[at:at] = data[at:end]
        else:
            data[at:at] = rng.choice(TOKENS)
    return Case("bytes", kind, bytes(data))


def family_wrong_types(rng: random.Random) -> Case:
    kind, data = rng.choice(SEED_DATA)
    for _ in range(rng.randrange(1, 4)):
        paths = [p for p in _paths(data) if p]
        path = rng.choice(paths)
        op = rng.randrange(4)
        try:
            if op == 0:
                data = _copy(data)
                node = data
                for part in path[:-1]:
                    node = node[part]
                del node[path[-1]]
            elif op == 1 and isinstance(path[-1], str):
                data = _copy(data)
                node = data
                for part in path[:-1]:
                    node = node[part]
                node[f"{path[-1]}{rng.choice(['_', 's', 'X', ' '])}"] = node.pop(path[-1])
            else:
                data = _set(data, path, wrong_value(rng))
        except (KeyError, IndexError, TypeError):
            continue
    return Case("wrong_types", kind, dump(data))


def family_bomb(rng: random.Random) -> Case:
    levels = rng.randrange(4, 12)
    width = rng.randrange(3, 11)
    flow = rng.random() < 0.5
    lines = ['l0: &l0 ["lol", "lol"]'] if flow else ["l0: &l0", "  - lol", "  - lol"]
    for level in range(1, levels):
        refs = [f"*l{level - 1}"] * width
        if flow:
            lines.append(f"l{level}: &l{level} [{', '.join(refs)}]")
        else:
            lines.append(f"l{level}: &l{level}")
            lines.extend(f"  - {r}" for r in refs)
    if rng.random() < 0.3:  # merge keys that multiply mappings
        lines = ["m0: &m0 {a: 1, b: 2}"]
        for level in range(1, levels):
            lines.append(f"m{level}: &m{level}")
            lines.append("  <<: [" + ", ".join(f"*m{level - 1}" for _ in range(width)) + "]")
            lines.append(f"  x{level}: [{', '.join(f'*m{level - 1}' for _ in range(width))}]")
    bomb = "\n".join(lines) + "\n"
    kind, raw = rng.choice(SEEDS)
    if rng.random() < 0.5:  # inside a real document's vars
        text = raw.decode("utf-8")
        indented = "".join(f"  {line}\n" for line in bomb.splitlines())
        marker = "vars:\n"
        if marker in text:
            text = text.replace(marker, marker + indented, 1)
            return Case("bomb", kind, text.encode())
    return Case("bomb", kind, bomb.encode())


def family_deep(rng: random.Random) -> Case:
    depth = rng.choice([63, 64, 65, 100, 500, 5_000, 50_000, 500_000])
    style = rng.randrange(5)
    if style == 0:
        text = "name: x\nvars: " + "[" * depth + "1" + "]" * depth + "\n"
    elif style == 1:
        text = "vars: " + "{a: " * depth + "1" + "}" * depth + "\n"
    elif style == 2:
        depth = min(depth, 2_000)  # block indentation grows quadratically in bytes
        text = "vars:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, depth)) + " " * depth
        text += "v: 1\n"
    elif style == 3:
        text = "stages:\n  " + "- " * depth + "x\n"
    else:
        text = "vars: " + "[" * depth  # unclosed
    return Case("deep", rng.choice(["runbook", "checks"]), text.encode())


def family_huge(rng: random.Random) -> Case:
    size = rng.choice([10_000, 100_000, 500_000, document.MAX_BYTES - 200, document.MAX_BYTES + 1])
    style = rng.randrange(5)
    kind, raw = rng.choice(SEEDS)
    if style == 4:  # comment lines: the slowest shape for the round-trip parser
        return Case("huge", kind, raw + b"# c\n" * (min(size, document.MAX_BYTES) // 4 - 2000))
    if style == 0:
        return Case("huge", kind, raw.replace(b"name: ", b"name: " + b"x" * size, 1))
    if style == 1:
        return Case("huge", kind, b"vars:\n  " + b"k" * size + b": 1\n" + raw)
    if style == 2:
        return Case("huge", kind, raw + b"\n" * min(size, 1_000_000))
    return Case("huge", kind, b'description: "' + b"\\u00e9" * (size // 6) + b'"\n' + raw)


BAD_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc3",  # truncated two-byte sequence
    b"\xe2\x82",  # truncated three-byte sequence
    b"\xc0\xaf",  # overlong '/'
    b"\xed\xa0\x80",  # an encoded surrogate (U+D800)
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # a five-byte form
]


def family_utf8(rng: random.Random) -> Case:
    kind, raw = rng.choice(SEEDS)
    where = rng.choice([0, len(raw), rng.randrange(len(raw) + 1)])
    bad = rng.choice(BAD_UTF8)
    return Case("utf8", kind, raw[:where] + bad + raw[where:])


def family_dupkeys(rng: random.Random) -> Case:
    kind, raw = rng.choice(SEEDS)
    lines = raw.decode("utf-8").splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
    style = rng.randrange(3)
    if style == 0 and keyed:  # repeat a key line (and so its value) right after itself
        i = rng.choice(keyed)
        key = lines[i].split(":", 1)[0]
        lines.insert(i + 1, f"{key}: 1\n")
        return Case("dupkeys", kind, "".join(lines).encode())
    if style == 1:
        return Case("dupkeys", kind, raw + b"\nname: again\n")
    return Case("dupkeys", kind, raw.replace(b"vars:\n", b"vars:\n  x: {a: 1, a: 2}\n", 1))


def family_tabs(rng: random.Random) -> Case:
    kind, raw = rng.choice(SEEDS)
    lines = raw.decode("utf-8").splitlines(keepends=True)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines))
        line = lines[i]
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if rng.random() < 0.5 and indent:
            lines[i] = "\t" * max(1, indent // 2) + stripped
        else:
            lines[i] = line.replace(": ", ":\t", 1)
    return Case("tabs", kind, "".join(lines).encode())


ODD_CHARS = [
    "\u202e",
    "\u2066",
    "\u200f",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\U0001f600",
    "\U0010ffff",
]


def family_unicode(rng: random.Random) -> Case:
    kind, raw = rng.choice(SEEDS)
    text = raw.decode("utf-8")
    style = rng.randrange(3)
    if style == 0:  # raw odd characters anywhere
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(ODD_CHARS) + text[at:]
        return Case("unicode", kind, text.encode("utf-8"))
    escape = rng.choice(
        ["\\ud800", "\\udfff", "\\ud83d", "\\x00", "\\u202e", "\\U0010ffff", "\\N", "\\_", "\\L"]
    )
    if style == 1:  # an escape in a double-quoted value
        text = text.replace('name: "', f'name: "{escape}', 1)
        text = text.replace("\nname: ", f'\nname: "x{escape}"\nold_name: ', 1)
        return Case("unicode", kind, text.encode("utf-8"))
    # an escaped surrogate or control as a mapping key
    text = text.replace("vars:\n", f'vars:\n  "k{escape}": 1\n', 1)
    return Case("unicode", kind, text.encode("utf-8"))


def family_templates(rng: random.Random) -> Case:
    kind, data = rng.choice(SEED_DATA)
    strings = [p for p, v in document.walk_strings(data)]
    for _ in range(rng.randrange(1, 3)):
        template = rng.choice(TEMPLATES)
        if strings and rng.random() < 0.8:
            path = rng.choice(strings)
            data = _set(data, path, template)
        else:
            data = _set(data, ("vars",), {**(data.get("vars") or {}), "t": template})
    return Case("templates", kind, dump(data))


FAMILIES: dict[str, Callable[[random.Random], Case]] = {
    "bytes": family_bytes,
    "wrong_types": family_wrong_types,
    "bomb": family_bomb,
    "deep": family_deep,
    "huge": family_huge,
    "utf8": family_utf8,
    "dupkeys": family_dupkeys,
    "tabs": family_tabs,
    "unicode": family_unicode,
    "templates": family_templates,
}
#: How often each family is drawn (the cheap, broad ones more often).
WEIGHTS = {
    "bytes": 30,
    "wrong_types": 25,
    "bomb": 4,
    "deep": 4,
    "huge": 2,
    "utf8": 6,
    "dupkeys": 6,
    "tabs": 6,
    "unicode": 8,
    "templates": 9,
}


def generate(seed: int, count: int) -> list[Case]:
    """``count`` cases, the same ones for the same seed; every family at least once."""
    rng = random.Random(seed)
    names = list(FAMILIES)
    chosen = names[: min(count, len(names))]
    chosen += rng.choices(names, weights=[WEIGHTS[n] for n in names], k=count - len(chosen))
    return [FAMILIES[name](rng) for name in chosen]


# --- running one case -------------------------------------------------------------------------


class Workspace:
    """A directory shaped like the repository (runbooks/, checks/, a ``.git`` that makes it
    the include root), for includes to resolve."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "runbooks").mkdir(parents=True, exist_ok=True)
        (root / ".git").mkdir(exist_ok=True)
        shutil.copytree(ROOT / "checks", root / "checks", dirs_exist_ok=True)
        self.counter = 0

    def write(self, case: Case) -> Path:
        self.counter += 1
        folder = "runbooks" if case.kind == "runbook" else "checks"
        path = self.root / folder / f"fuzz-{self.counter}.yml"
        path.write_bytes(case.raw)
        return path


def _located(problem: Problem) -> bool:
    return (
        isinstance(problem.file, str)
        and bool(problem.file)
        and problem.line >= 1
        and problem.column >= 1
        and isinstance(problem.path, str)
        and bool(problem.message)
    )


def run_case(case: Case, workspace: Workspace) -> Outcome:
    """Feed ``case`` to every entry point; classify the result."""
    start = time.perf_counter()
    outcome = Outcome(accepted=True)
    path = workspace.write(case)
    try:
        steps: list[Callable[[], Any]] = [lambda: document.parse_document(case.raw, path.name)]
        if case.kind == "runbook":
            steps.append(lambda: check_runbook(path))
            steps.append(lambda: load_runbook(path, environment="lab"))
        else:
            steps.append(lambda: load_checks(path))
            steps.append(lambda: load_checks(path, environment="lab"))
        for step in steps:
            began = time.perf_counter()
            try:
                result = step()
            except InputError as exc:
                outcome.accepted = False
                found = list(getattr(exc, "problems", []))
                outcome.problems.extend(found)
                if not found:
                    outcome.unlocated.append(f"{type(exc).__name__}: {exc.message}")
                continue
            finally:
                outcome.slowest_call = max(outcome.slowest_call, time.perf_counter() - began)
            if isinstance(result, list):  # check_runbook: problems, not raised
                errors = [p for p in result if isinstance(p, Problem) and p.severity == "error"]
                if errors:
                    outcome.accepted = False
                outcome.problems.extend(p for p in result if isinstance(p, Problem))
    except Exception:
        outcome.error = traceback.format_exc()
    finally:
        path.unlink(missing_ok=True)
    outcome.unlocated.extend(p.render() for p in outcome.problems if not _located(p))
    outcome.seconds = time.perf_counter() - start
    return outcome


# --- the script -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20180416)
    parser.add_argument("--slow-ms", type=float, default=2000.0, help="report slower inputs")
    parser.add_argument("--keep", type=Path, help="write reproducers of findings here")
    args = parser.parse_args(argv)

    cases = generate(args.seed, args.inputs)
    counts = dict.fromkeys(FAMILIES, 0)
    accepted = rejected = tracebacks = unlocated = slow = 0
    slowest = 0.0
    started = time.perf_counter()
    keep: Path = args.keep or Path(tempfile.mkdtemp(prefix="cutover-fuzz-findings-"))
    with tempfile.TemporaryDirectory(prefix="cutover-fuzz-") as tmp:
        workspace = Workspace(Path(tmp))
        for index, case in enumerate(cases):
            counts[case.family] += 1
            outcome = run_case(case, workspace)
            slowest = max(slowest, outcome.slowest_call)
            findings = []
            if outcome.error is not None:
                tracebacks += 1
                findings.append(("traceback", outcome.error.strip().splitlines()[-1][:200]))
            elif outcome.accepted:
                accepted += 1
            else:
                rejected += 1
            if outcome.unlocated:
                unlocated += 1
                findings.append(("unlocated", outcome.unlocated[0].splitlines()[0][:200]))
            if outcome.slowest_call * 1000 > args.slow_ms:
                slow += 1
                findings.append(("slow", f"{outcome.slowest_call * 1000:.0f}ms"))
            for what, detail in findings:
                keep.mkdir(parents=True, exist_ok=True)
                repro = keep / f"{index}-{case.family}.yml"
                repro.write_bytes(case.raw)
                print(f"finding={what} family={case.family} input={repro} detail={detail!r}")
    print(f"inputs={len(cases)}")
    print(f"accepted={accepted}")
    print(f"rejected={rejected}")
    print(f"tracebacks={tracebacks}")
    print(f"unlocated={unlocated}")
    print(f"slow={slow}")
    print(f"seconds={time.perf_counter() - started:.1f}")
    print(f"slowest_ms={slowest * 1000:.0f}")
    for name, n in counts.items():
        print(f"family_{name}={n}")
    return 1 if tracebacks or unlocated or slow else 0


if __name__ == "__main__":
    sys.exit(main())
