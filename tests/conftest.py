import os
import signal

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt during the test, whatever the process inherited.

    A shell starts background jobs (``cmd &``, CI runners, services) with
    SIGINT ignored, and Python then installs no handler of its own.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def blobs():
    """800 points in 12-D drawn around 6 centres: continuous values, no ties."""
    rng = np.random.default_rng(7)
    centres = rng.normal(scale=6.0, size=(6, 12))
    labels = rng.integers(0, 6, size=800)
    return centres[labels] + rng.normal(size=(800, 12))


def brute_force_neighbors(X, k, metric="euclidean"):
    """Reference kNN in float64 numpy: (indices, distances), nearest first."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        D = 1.0 - unit @ unit.T
    else:
        D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(D, order, axis=1)


def probed_brute_force(x, probes, query, c):
    """Reference for the native probed search, for row ``query`` of ``x``.

    Returns the rows it may find (those whose home cluster, ``probes[:, 0]``,
    is among the query's probes; itself excluded) and the squared float64
    distances of its ``c`` nearest among them, nearest first (fewer when
    fewer are allowed).
    """
    points = np.asarray(x, dtype=np.float64)
    allowed = np.flatnonzero(np.isin(probes[:, 0], probes[query]))
    allowed = allowed[allowed != query]
    return allowed, np.sort(((points[allowed] - points[query]) ** 2).sum(axis=1))[:c]


# Hypothesis profiles for tests/test_properties.py: a fixed, derandomized number
# of examples by default (CI), more with HYPOTHESIS_PROFILE=long.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the property tests skip themselves
    pass
else:
    settings.register_profile(
        "ci", max_examples=200, deadline=None, derandomize=True, database=None,
        print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "long", max_examples=2500, deadline=10_000, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
