"""Scenarios: the initial state of a lab world.

``pypi-2018`` is the CDN configuration just before 15:00 UTC on 2018-04-16, latent
bug included:

- **legacy** (``pypi.python.org``) still claims the bucket host
  ``pypi-files.s3.amazonaws.com`` (an old setting), serves ``/packages/<hash-path>``
  from the object store itself, and its redirect dictionary is off;
- **warehouse** (``pypi.org``) answers ``/packages/...`` with a 301 to
  files.pythonhosted.org;
- **files** (``files.pythonhosted.org``) rewrites Host to the bucket host and signs on
  **every node** (``lab.sign_scope = every_node``), selecting the object store by URL
  pattern.

Identifiers (service ids, dictionary ids, customer id) and the API token are derived
from the scenario name, so every process that builds the scenario gets the same ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cutover.lab.hostnames import BUCKET_HOST, FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.state import (
    GENERAL_SETTINGS,
    OBJECT_STORE_MATCH,
    SIGN_SCOPE,
    DictionaryRef,
    Domain,
    Item,
    LabState,
    Service,
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


def _version(
    domains: list[str], settings: dict[str, str], dictionaries: list[DictionaryRef]
) -> Version:
    return Version(
        number=1,
        active=True,
        locked=True,
        comment="state before 2018-04-16 15:00 UTC",
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        domains=[Domain(name, "", BEFORE_FLIP, BEFORE_FLIP) for name in domains],
        settings={**GENERAL_SETTINGS, **settings},
        dictionaries=dictionaries,
    )


def build_pypi_2018() -> LabState:
    scenario = "pypi-2018"
    legacy_id = lab_id(scenario, "service", "legacy")
    redirects = DictionaryRef(
        id=lab_id(scenario, "dictionary", "legacy", REDIRECT_DICTIONARY),
        name=REDIRECT_DICTIONARY,
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
    )
    legacy = Service(
        id=legacy_id,
        name="legacy",
        logic="legacy",
        comment="pypi.python.org (legacy PyPI)",
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        versions=[
            _version(
                [LEGACY_HOST, BUCKET_HOST],
                {SIGN_SCOPE: "origin_node", OBJECT_STORE_MATCH: "url"},
                [redirects],
            )
        ],
        items={
            redirects.id: {
                key: Item(value, BEFORE_FLIP, BEFORE_FLIP)
                for key, value in REDIRECT_DEFAULTS.items()
            }
        },
    )
    warehouse = Service(
        id=lab_id(scenario, "service", "warehouse"),
        name="warehouse",
        logic="warehouse",
        comment="pypi.org (warehouse)",
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        versions=[
            _version([WAREHOUSE_HOST], {SIGN_SCOPE: "origin_node", OBJECT_STORE_MATCH: "url"}, [])
        ],
    )
    files = Service(
        id=lab_id(scenario, "service", "files"),
        name="files",
        logic="files",
        comment="files.pythonhosted.org (file hosting)",
        created_at=BEFORE_FLIP,
        updated_at=BEFORE_FLIP,
        versions=[
            _version([FILES_HOST], {SIGN_SCOPE: "every_node", OBJECT_STORE_MATCH: "url"}, [])
        ],
    )
    return LabState(
        scenario=scenario,
        token=lab_token(scenario),
        customer_id=lab_id(scenario, "customer"),
        public_scheme="http",
        services=[legacy, warehouse, files],
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    build: Callable[[], LabState]


SCENARIOS: dict[str, Scenario] = {
    "pypi-2018": Scenario(
        "pypi-2018",
        "PyPI's CDN just before 15:00 UTC on 2018-04-16: files signs on every node, "
        "legacy still claims the bucket host, the legacy redirect is off.",
        build_pypi_2018,
    ),
}
