"""Session fixtures: fitted reference results (cached) and the fixed results of shipped configs."""

from __future__ import annotations

import pytest
from helpers import fixture_results, reference_results


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference")
    return lambda name: reference_results(name, directory)


@pytest.fixture(scope="session")
def hsb2():
    return fixture_results("hsb2")


@pytest.fixture(scope="session")
def schools():
    return fixture_results("schools")


@pytest.fixture(scope="session")
def graduation():
    """A binary outcome (family: binomial) with a random slope."""
    return fixture_results("graduation")
