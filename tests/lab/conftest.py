"""Fixtures for the lab tests: a running lab on loopback and a client for it
(:class:`cutover.testing.LabClient`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cutover.lab import LabHandle, start_lab
from cutover.testing import LabClient


@pytest.fixture
def lab() -> Iterator[LabHandle]:
    with start_lab("pypi-2018") as handle:
        yield handle


@pytest.fixture
def world(lab: LabHandle) -> Iterator[LabClient]:
    with LabClient(lab) as client:
        yield client
