"""Shared fixtures and settings for the skpunzi test suite."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest

# Tests draw figures but never show them: a headless backend works everywhere.
try:
    import matplotlib
except ImportError:
    pass
else:
    matplotlib.use("Agg")

# Hypothesis measures each example against a wall-clock deadline by default; a
# busy CI machine would then fail tests at random, so the deadline is off.
# Examples are derandomised: every run checks the same cases, so a failure
# is reproducible and CI does not turn red on a newly drawn example.
try:
    from hypothesis import HealthCheck, settings
except ImportError:
    pass
else:
    settings.register_profile(
        "skpunzi",
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("skpunzi")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Run the suite on one thread per library (torch's OpenMP pool included).

    The tests fit tiny networks, where a second thread only adds
    synchronisation; on a busy machine torch's spinning worker threads make
    such fits up to 20 times slower. Results do not depend on it.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def rng():
    """A seeded numpy generator, fresh for each test."""
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` where torch sees no CUDA device."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return

    # Imported here so that collecting CPU-only tests does not need torch.
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; torch sees none")
    for item in gpu_items:
        item.add_marker(skip)
