"""Scenarios: the initial state of a lab world.

``pypi-2018`` is the CDN configuration just before 15:00 UTC on 2018-04-16, latent
bug included:

- **legacy** (``pypi.python.org``) still claims the bucket host
  ``pypi-files.s3.amazonaws.com`` (an old setting), serves ``/packages/<hash-path>``
  from the object store itself (signing only on the node that fetches from it), and its
  redirect (VCL driven by the edge dictionary ``redirects``) is off;
- **warehouse** (``pypi.org``) answers ``/packages/...`` with a 301 to
  files.pythonhosted.org;
- **files** (``files.pythonhosted.org``) selects the object store for hash paths and,
  in its ``s3-signing`` snippet (type ``miss``), rewrites Host to the bucket host and
  signs on **every node** (the latent bug; the fix is ``req.backend.is_origin``).

Every behaviour is VCL, in the files of ``cutover/lab/scenario_vcl/``; each backend is
shielded by the shield node.

Identifiers (service ids, dictionary ids, customer id) and the API token are derived
from the scenario name, so every process that builds the scenario gets the same ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from cutover.lab.hostnames import (
    BUCKET_HOST,
    FILES_HOST,
    LEGACY_HOST,
    PUBLIC_HOSTS,
    SHIELD_NODE,
    WAREHOUSE_HOST,
)
from cutover.lab.state import (
    GENERAL_SETTINGS,
    Backend,
    DictionaryRef,
    Domain,
    Item,
    LabState,
    Service,
    Snippet,
    Version,
)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BEFORE_FLIP = "2018-04-16T14:59:00Z"  #: the timestamp of every initial record

#: The legacy redirect dictionary: its name and its items' defaults.
REDIRECT_DICTIONARY = "redirects"
REDIRECT_DEFAULTS: dict[str, str] = {
    "mode": "off",  # off | 301 | 302
    "percent": "100",  # 0..100 of paths (deterministic by a hash of the path)
    "prefixes": "/",  # comma-separated path prefixes; "/" = everything
    "target_host": WAREHOUSE_HOST,
}


def path_bucket(path: str) -> int:
    """The legacy redirect's 0..99 bucket of a path, as its VCL computes it: the first 4
    bytes of the path's sha256, mod 100 (a path redirects when its bucket < percent)."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big") % 100


def lab_id(*parts: str, length: int = 22) -> str:
    """A Fastly-looking alphanumeric id derived from ``parts`` (deterministic)."""
    number = int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


def lab_token(scenario: str) -> str:
    """The deterministic API token of a scenario (also stored in the state file)."""
    return "lab-" + hashlib.sha256(f"cutover-lab:{scenario}:token".encode()).hexdigest()[:32]


def scenario_vcl(name: str, scheme: str = "http") -> str:
    """The text of one of the scenario's VCL files (``{scheme}``: the public scheme)."""
    text = resources.files("cutover.lab").joinpath("scenario_vcl", f"{name}.vcl").read_text()
    return text.replace("{scheme}", scheme)


def _backend(name: str, address: str) -> Backend:
    return Backend(
        name, address, 443, shield=SHIELD_NODE, created_at=BEFORE_FLIP, updated_at=BEFORE_FLIP
    )


def _snippet(service: str, name: str, type_: str, file: str, priority: int = 100) -> Snippet:
    return Snippet(
        id=lab_id("pypi-2018", "snippet", service, name),
        name=name,
        type=type_,
        content=scenario_vcl(file),
        priority=priority,
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
    )


def _version(
    domains: list[str],
    dictionaries: list[DictionaryRef],
    backends: list[Backend],
    snippets: list[Snippet],
) -> Version:
    return Version(
        number=1,
        active=True,
        locked=True,
        comment="state before 2018-04-16 15:00 UTC",
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        domains=[Domain(name, "", BEFORE_FLIP, BEFORE_FLIP) for name in domains],
        settings=dict(GENERAL_SETTINGS),
        dictionaries=dictionaries,
        backends=backends,
        snippets=snippets,
    )


def _service(name: str, comment: str, version: Version, **extra: object) -> Service:
    return Service(
        id=lab_id("pypi-2018", "service", name),
        name=name,
        comment=comment,
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        versions=[version],
        **extra,  # type: ignore[arg-type]
    )


def build_pypi_2018() -> LabState:
    scenario = "pypi-2018"
    redirects = DictionaryRef(
        id=lab_id(scenario, "dictionary", "legacy", REDIRECT_DICTIONARY),
        name=REDIRECT_DICTIONARY,
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
    )
    s3 = _backend("F_S3", BUCKET_HOST)
    aws = _snippet("any", "aws-credentials", "init", "aws-credentials")
    legacy = _service(
        "legacy",
        "pypi.python.org (legacy PyPI)",
        _version(
            [LEGACY_HOST, BUCKET_HOST],
            [redirects],
            [_backend("F_Legacy", "legacy.lab.internal"), s3],
            [
                aws,
                _snippet("legacy", "legacy-redirect", "recv", "legacy-redirect", 10),
                _snippet("legacy", "legacy-backend", "recv", "legacy-backend", 20),
                _snippet("legacy", "s3-signing", "miss", "s3-signing"),
                _snippet("legacy", "legacy-redirect-error", "error", "legacy-redirect-error"),
            ],
        ),
        items={
            redirects.id: {
                key: Item(value, BEFORE_FLIP, BEFORE_FLIP)
                for key, value in REDIRECT_DEFAULTS.items()
            }
        },
    )
    warehouse = _service(
        "warehouse",
        "pypi.org (warehouse)",
        _version(
            [WAREHOUSE_HOST],
            [],
            [_backend("F_Warehouse", "warehouse.lab.internal")],
            [_snippet("warehouse", "warehouse-backend", "recv", "warehouse-backend")],
        ),
    )
    files = _service(
        "files",
        "files.pythonhosted.org (file hosting)",
        _version(
            [FILES_HOST],
            [],
            [_backend("F_Conveyor", "conveyor.lab.internal"), s3],
            [
                aws,
                _snippet("files", "files-backend", "recv", "files-backend"),
                _snippet("files", "s3-signing", "miss", "s3-signing-every-node"),
            ],
        ),
    )
    return LabState(
        scenario=scenario,
        token=lab_token(scenario),
        customer_id=lab_id(scenario, "customer"),
        public_scheme="http",
        services=[legacy, warehouse, files],
    )


#: The fix of 2018 (files' versioned snippets): sign only when this node fetches from the
#: object store itself (``req.backend.is_origin``).
FIX_2018: dict[str, str] = {"s3-signing": scenario_vcl("s3-signing")}
#: The attempted fix that led to 404s: select the object store (and sign) by the Host the
#: node receives, which at the edge is files.pythonhosted.org, never the bucket.
ATTEMPTED_FIX_2018: dict[str, str] = {
    "files-backend": f'if (req.http.Host == "{BUCKET_HOST}") {{\n'
    "  set req.backend = F_S3;\n} else {\n  set req.backend = F_Conveyor;\n}\n",
    "s3-signing": scenario_vcl("s3-signing-every-node").replace(
        'if (req.url.path ~ "^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$")',
        f'if (req.http.Host == "{BUCKET_HOST}")',
    ),
}


@dataclass(frozen=True)
class Scenario:
    """A lab's initial state: built-in (:data:`SCENARIOS`, by name) or read from a
    scenario file (:mod:`cutover.lab.scenario_document`, e.g. a capture)."""

    name: str
    description: str
    build: Callable[[], LabState]
    #: the public hostnames clients ask for (the lab's resolve map)
    hostnames: tuple[str, ...] = PUBLIC_HOSTS


SCENARIOS: dict[str, Scenario] = {
    "pypi-2018": Scenario(
        "pypi-2018",
        "PyPI's CDN just before 15:00 UTC on 2018-04-16: files signs on every node, "
        "legacy still claims the bucket host, the legacy redirect is off.",
        build_pypi_2018,
    ),
}


def resolve_scenario(scenario: str | Scenario) -> Scenario:
    """A scenario object from itself or a built-in scenario's name (KeyError: unknown)."""
    return scenario if isinstance(scenario, Scenario) else SCENARIOS[scenario]
