"""Real pip against the served lab, inside a network and mount namespace the test makes.

In the namespace (:class:`cutover.testing.lab_namespace.LabNamespace`) pypi.org,
pypi.python.org and files.pythonhosted.org resolve to loopback and the lab serves on port
80, so pip runs unmodified: isolated from this machine's configuration
(``PIP_CONFIG_FILE=/dev/null``, no other ``PIP_*``, ``--no-cache-dir``, a fresh target
directory each time), each supported pip from its own venv, made once per session.

The phases: before the cutover; after ``runbooks/pypi-files.yml``; after the 2018 flip
with the automatic rollback off (``cutover run runbooks/pypi-2018-replay.yml
--no-rollback``); and 15:26, when the bucket host was taken off legacy and misses turned
to 503s. In each, ``sampleproject==1.3.1`` with ``--require-hashes`` through the index on
each host and through its direct file URL, as a cache hit and as a cache miss (every
node purged first). pip's own outcome is the oracle: installed (hash verified), "Exceeded
30 redirects", or "too many 503 error responses" after its retries.

All the pip runs happen once per module (``outcomes``), in a fixed order (hits before
purges); each parametrized test asserts one cell of the table, so a failure names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, PUBLIC_HOSTS, WAREHOUSE_HOST
from cutover.lab.packages import default_catalog
from cutover.testing.lab_namespace import LabNamespace, unavailable

ROOT = Path(__file__).resolve().parents[2]
PIP_VERSIONS = ("23.3.2", "24.3.1")
WHEEL = next(
    f for f in default_catalog().files if f.filename == "sampleproject-1.3.1-py2.py3-none-any.whl"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(bool(why := unavailable()), reason=f"pip through the lab: {why}"),
]

INSTALLED = "installed, hash verified"
LOOP = "Exceeded 30 redirects"
RETRIED_503 = "503 after retries"

#: route -> (index URL or None for the direct file URL, the URL a hit primes)
ROUTES: dict[str, tuple[str | None, str]] = {
    "index on pypi.org": (
        f"http://{WAREHOUSE_HOST}/simple/",
        f"http://{FILES_HOST}{WHEEL.url_path}",
    ),
    "index on pypi.python.org": (
        f"http://{LEGACY_HOST}/simple/",
        f"http://{LEGACY_HOST}{WHEEL.url_path}",
    ),
    "direct file URL": (None, f"http://{FILES_HOST}{WHEEL.url_path}"),
}
PHASES = ("before", "after pypi-files.yml", "after the 2018 flip", "15:26 bucket host removed")
CACHES = ("hit", "miss")

#: (phase, route, cache) -> pip's outcome
EXPECTED: dict[tuple[str, str, str], str] = {
    (phase, route, cache): INSTALLED for phase in PHASES[:2] for route in ROUTES for cache in CACHES
}
EXPECTED.update({(PHASES[2], route, "hit"): INSTALLED for route in ROUTES})
EXPECTED.update({(PHASES[2], route, "miss"): LOOP for route in ROUTES})
EXPECTED.update({(PHASES[3], route, "hit"): INSTALLED for route in ROUTES})
EXPECTED.update({(PHASES[3], route, "miss"): RETRIED_503 for route in ROUTES})

#: the index's other properties, before the cutover, in each simple API mode:
#: case -> (requirement, extra pip options, expected outcome)
INDEX_CASES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "wrong hash refused": (
        f"sampleproject==1.3.1 --hash=sha256:{'0' * 64}",
        ("--require-hashes",),
        "hash mismatch refused",
    ),
    "requires-python and yanked skipped": ("lab-versions", (), "installed lab-versions 1.0"),
    "yanked release pinned": (
        "lab-versions==1.1",
        (),
        "installed lab-versions 1.1, yanked warning: broken build, use 1.0",
    ),
    "sdist with build isolation": ("hello-lab", (), "installed hello-lab 1.0.0 from its sdist"),
}
SIMPLE_APIS = ("2018", "today")


@pytest.fixture(scope="session")
def pip_pythons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Each pip version in its own venv (its python), or why it cannot be had here."""
    found: dict[str, Path | str] = {}
    for version in PIP_VERSIONS:
        venv = tmp_path_factory.mktemp(f"pip-{version}")
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=120
        )
        python = venv / "bin" / "python"
        if made.returncode == 0:  # this machine's index configuration, outside the namespace
            made = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"pip=={version}"],
                capture_output=True,
                text=True,
                timeout=300,
            )
        if made.returncode != 0:
            found[version] = f"pip {version} is not obtainable here: {made.stderr.strip()[-300:]}"
        else:
            found[version] = python
    return found


def _pip(
    ns: LabNamespace,
    python: Path,
    work: Path,
    requirement: str,
    index: str | None,
    options: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], Path]:
    work.mkdir(parents=True)
    (work / "requirements.txt").write_text(requirement + "\n")
    trusted = [arg for host in PUBLIC_HOSTS for arg in ("--trusted-host", host)]
    where = ["--no-index"] if index is None else ["--index-url", index]
    argv = [
        python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
        "--no-input", "--retries", "2", "--timeout", "10", "--target", work / "target",
        *where, *trusted, *options, "-r", work / "requirements.txt",
    ]  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": "/dev/null",
    }
    return ns.run(argv, env=env, cwd=work, timeout=180), work / "target"


def _outcome(done: subprocess.CompletedProcess[str], target: Path) -> str:
    text = done.stdout + done.stderr
    if done.returncode == 0 and "Successfully installed sampleproject-1.3.1" in text:
        installed = (target / "sampleproject" / "__init__.py").read_text()
        return INSTALLED if '__version__ = "1.3.1"' in installed else f"wrong files: {installed}"
    if done.returncode != 0 and "Exceeded 30 redirects" in text:
        return LOOP
    if done.returncode != 0 and "too many 503 error responses" in text:
        return RETRIED_503
    if done.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in text:
        return "hash mismatch refused"
    return f"exit {done.returncode}: {text.strip()[-400:]}"


def _index_outcome(done: subprocess.CompletedProcess[str], target: Path) -> str:
    text = done.stdout + done.stderr
    if done.returncode != 0:
        return _outcome(done, target)
    for name, version in (("lab-versions", "1.0"), ("lab-versions", "1.1"), ("hello-lab", "1.0.0")):
        if f"Successfully installed {name}-{version}" not in text:
            continue
        module = target / name.replace("-", "_") / "__init__.py"
        if f'__version__ = "{version}"' not in module.read_text():
            return f"wrong files in {module}"
        found = f"installed {name} {version}"
        if "yanked version" in text and "Reason for being yanked: broken build, use 1.0" in text:
            found += ", yanked warning: broken build, use 1.0"
        if name == "hello-lab" and "Building wheel for hello-lab (pyproject.toml)" in text:
            found += " from its sdist"
        return found
    return f"exit 0 without a known install: {text.strip()[-400:]}"


def _enter_phase(ns: LabNamespace, phase: str, state: Path) -> None:
    def cutover(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "cutover", *args, "--state-dir", str(state)]
        return ns.run(argv, cwd=ROOT, timeout=300)

    if phase == "after pypi-files.yml":
        done = cutover("run", "runbooks/pypi-files.yml", "--env", "lab", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    elif phase == "after the 2018 flip":
        assert cutover("lab", "reset").returncode == 0
        done = cutover("run", "runbooks/pypi-2018-replay.yml", "--env", "lab", "--no-rollback")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "automatic rollback is off: run `cutover rollback" in done.stdout
    elif phase == "15:26 bucket host removed":
        service = json.loads(ns.endpoint.read_text())["service_ids"]["legacy"]
        for method, path in (
            ("PUT", f"/service/{service}/version/1/clone"),
            ("DELETE", f"/service/{service}/version/2/domain/pypi-files.s3.amazonaws.com"),
            ("PUT", f"/service/{service}/version/2/activate"),
        ):
            status, body = ns.api(method, path)
            assert status == 200, (method, path, body)


Table = dict[tuple[str, str, str, str], str]
#: independent pip runs (hits, index cases) run this many at a time; misses one by one
PARALLEL = 3


def _sampleproject(route: str) -> str:
    index, _ = ROUTES[route]
    if index is None:
        return f"sampleproject @ http://{FILES_HOST}{WHEEL.url_path} --hash=sha256:{WHEEL.sha256}"
    return f"sampleproject==1.3.1 --hash=sha256:{WHEEL.sha256}"


@pytest.fixture(scope="module")
def outcomes(
    pip_pythons: dict[str, Path | str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Table]:
    """Every pip run of the module: (pip version, phase, route, cache) -> outcome, and
    (pip version, "index " + simple API, case, "") -> outcome for INDEX_CASES.

    In each phase the cache is warm (as PyPI's edge was); every hit runs before the
    first purge, and each miss runs alone, right after purging every node."""
    base = tmp_path_factory.mktemp("pip-lab")
    pythons = {v: p for v, p in pip_pythons.items() if isinstance(p, Path)}
    table: Table = {}
    runs = iter(range(10_000))
    with LabNamespace(base / "state", base / "ns") as ns, ThreadPoolExecutor(PARALLEL) as pool:

        def pip(python: Path, requirement: str, index: str | None, options: tuple[str, ...]):  # type: ignore[no-untyped-def]
            return pool.submit(
                _pip, ns, python, base / f"run{next(runs)}", requirement, index, options
            )

        for phase in PHASES:
            _enter_phase(ns, phase, base / "state")
            assert ns.api("POST", "/lab/warm")[0] == 200
            if phase == "before":
                for simple_api in SIMPLE_APIS:
                    assert ns.api("PUT", "/lab/world", {"simple_api": simple_api})[0] == 200
                    index_runs = {
                        (version, f"index {simple_api}", case, ""): pip(
                            python, requirement, f"http://{WAREHOUSE_HOST}/simple/", options
                        )
                        for version, python in pythons.items()
                        for case, (requirement, options, _) in INDEX_CASES.items()
                    }
                    table.update({k: _index_outcome(*f.result()) for k, f in index_runs.items()})
                assert ns.api("PUT", "/lab/world", {"simple_api": "2018"})[0] == 200
            for route, (_, prime) in ROUTES.items():
                assert ns.get(prime) == 200, (phase, route)  # a hit, even where not warm
            hits = {
                (version, phase, route, "hit"): pip(
                    python, _sampleproject(route), index, ("--require-hashes",)
                )
                for version, python in pythons.items()
                for route, (index, _) in ROUTES.items()
            }
            table.update({k: _outcome(*f.result()) for k, f in hits.items()})
            for version, python in pythons.items():
                for route, (index, _) in ROUTES.items():
                    assert ns.api("POST", "/lab/purge")[0] == 200
                    miss = pip(python, _sampleproject(route), index, ("--require-hashes",))
                    table[version, phase, route, "miss"] = _outcome(*miss.result())
    yield table


def _skip_unobtainable(pip_pythons: dict[str, Path | str], version: str) -> None:
    reason = pip_pythons[version]
    if isinstance(reason, str):
        pytest.skip(reason)


@pytest.mark.parametrize("version", PIP_VERSIONS)
@pytest.mark.parametrize(("phase", "route", "cache"), list(EXPECTED))
def test_pip_outcome(
    outcomes: Table,
    pip_pythons: dict[str, Path | str],
    version: str,
    phase: str,
    route: str,
    cache: str,
) -> None:
    _skip_unobtainable(pip_pythons, version)
    assert outcomes[version, phase, route, cache] == EXPECTED[phase, route, cache]


@pytest.mark.parametrize("version", PIP_VERSIONS)
@pytest.mark.parametrize("simple_api", SIMPLE_APIS)
@pytest.mark.parametrize("case", list(INDEX_CASES))
def test_pip_through_the_index(
    outcomes: Table,
    pip_pythons: dict[str, Path | str],
    version: str,
    simple_api: str,
    case: str,
) -> None:
    _skip_unobtainable(pip_pythons, version)
    assert outcomes[version, f"index {simple_api}", case, ""] == INDEX_CASES[case][2]


def test_both_pips_are_tested_where_obtainable(pip_pythons: dict[str, Path | str]) -> None:
    """The venvs hold the pip versions asked for (not the interpreter's bundled one)."""
    for version, python in pip_pythons.items():
        if isinstance(python, str):
            continue
        done = subprocess.run(
            [str(python), "-m", "pip", "--version"], capture_output=True, text=True, timeout=60
        )
        assert done.stdout.startswith(f"pip {version} from {python.parent.parent}"), done.stdout
