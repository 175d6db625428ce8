"""Session fixtures: fitted reference results (cached) and the fixed results of shipped configs."""

from __future__ import annotations

import os

import pytest
from helpers import fixture_results, reference_results

# The tests' Spark JVMs (one in this process, shared by every test, and one per CLI run in a
# subprocess, which inherits this) compile with C1 alone: on data this small most of a JVM's CPU
# went to the C2 compiler; the Spark tests' CPU 50.5 -> 30.8 s, their results the same. A
# PYSPARK_SUBMIT_ARGS of the caller's own is kept.
os.environ.setdefault(
    "PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell"
)


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
