"""Tests for the mass-window helper, ``mass_windows``."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from skpunzi import mass_windows
from skpunzi._groups import check_groups
from skpunzi._windows import _expand_ranges


def brute_force(m2, masses, widths, n_sigma, generated):
    """Dense (n_samples, n_hypotheses) indicator, one comparison per cell."""
    inside = np.abs(m2[:, None] - masses[None, :] ** 2) < n_sigma * widths[None, :]
    is_signal = generated >= 0
    own = generated[:, None] == np.arange(len(masses))[None, :]
    return (inside & (~is_signal[:, None] | own)).astype(np.int8)


def test_hand_made_overlapping_windows():
    # Centres 1 and 4, half-widths 2 * 0.75 = 1.5 and 2 * 1 = 2: the windows
    # (-0.5, 2.5) and (2, 6) overlap on (2, 2.5).
    m2 = np.array([0.0, 2.2, 3.0, 5.9, 7.0, -0.6])

    windows = mass_windows(m2, [1.0, 2.0], [0.75, 1.0])

    assert sp.issparse(windows) and windows.format == "csr"
    np.testing.assert_array_equal(
        windows.toarray(),
        [[1, 0], [1, 1], [0, 1], [0, 1], [0, 0], [0, 0]],
    )


def test_edges_are_exclusive():
    windows = mass_windows([0.0, 2.0, 1.999, 2.001], [1.0], [0.5])
    np.testing.assert_array_equal(windows.toarray().ravel(), [0, 0, 1, 0])


def test_signal_only_in_its_own_window():
    # All events lie in both windows by mass; signal keeps only its own.
    m2 = np.full(4, 2.5)
    generated = np.array([0, 1, -1, 1])

    windows = mass_windows(m2, [1.4, 1.7], [1.0, 1.0], generated_hypothesis=generated)

    np.testing.assert_array_equal(windows.toarray(), [[1, 0], [0, 1], [1, 1], [0, 1]])


def test_signal_outside_its_own_window_lies_nowhere():
    windows = mass_windows(
        [9.0, 1.0], [1.0, 3.0], [0.5, 0.5], generated_hypothesis=[0, 0]
    )
    np.testing.assert_array_equal(windows.toarray(), [[0, 0], [1, 0]])


@pytest.mark.parametrize(
    "generated",
    [
        np.array([0.0, np.nan, 1.0, np.nan]),
        pd.Series([0, None, 1, None], dtype="Int64"),
        pd.Series([0, -1, 1, -1]),
        [0, -1, 1, -1],
    ],
)
def test_background_marked_by_nan_or_minus_one(generated):
    m2 = pd.Series([1.0, 1.0, 4.0, 4.0])

    windows = mass_windows(
        m2, pd.Series([1.0, 2.0]), [0.5, 0.5], generated_hypothesis=generated
    )

    np.testing.assert_array_equal(windows.toarray(), [[1, 0], [1, 0], [0, 1], [0, 1]])


def test_callable_widths_receive_the_masses():
    masses = np.array([1.0, 2.0, 3.0])
    seen = []

    def resolution(mass):
        seen.append(mass)
        return 0.1 * mass**2

    m2 = np.array([1.15, 4.3, 9.5, 9.7])
    windows = mass_windows(m2, masses, resolution, n_sigma=2)

    np.testing.assert_array_equal(seen[0], masses)
    expected = brute_force(m2, masses, 0.1 * masses**2, 2, np.full(4, -1))
    np.testing.assert_array_equal(windows.toarray(), expected)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_sigma", [0.5, 2, 3.5])
def test_matches_brute_force(seed, n_sigma):
    rng = np.random.default_rng(seed)
    n_samples, n_hypotheses = 300, 12
    masses = np.sort(rng.uniform(0.5, 5.0, n_hypotheses))
    widths = rng.uniform(0.05, 1.0, n_hypotheses)
    m2 = rng.uniform(-1.0, 26.0, n_samples)
    m2[:10] = masses[:10] ** 2  # some events exactly at a centre
    generated = np.where(
        rng.random(n_samples) < 0.3, rng.integers(0, n_hypotheses, n_samples), -1
    )

    windows = mass_windows(
        m2, masses, widths, n_sigma=n_sigma, generated_hypothesis=generated
    )

    expected = brute_force(m2, masses, widths, n_sigma, generated)
    np.testing.assert_array_equal(windows.toarray(), expected)
    assert windows.nnz == expected.sum()
    assert windows.has_canonical_format


def test_accepted_by_check_groups():
    windows = mass_windows([1.0, 1.1, 4.0], [1.0, 2.0], [0.5, 0.5])

    canonical = check_groups(windows, 3)

    assert canonical.n_hypotheses == 2
    np.testing.assert_array_equal(canonical.event, [0, 1, 2])
    np.testing.assert_array_equal(canonical.hypothesis, [0, 0, 1])


def test_no_events_in_any_window():
    windows = mass_windows([100.0, 200.0], [1.0], [0.1])
    assert windows.shape == (2, 1) and windows.nnz == 0


@pytest.mark.parametrize(
    "starts, lengths, expected",
    [
        ([5, 0, 2], [2, 0, 3], [5, 6, 2, 3, 4]),
        ([], [], []),
        ([3], [1], [3]),
    ],
)
def test_expand_ranges(starts, lengths, expected):
    np.testing.assert_array_equal(_expand_ranges(starts, lengths), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"recoil_mass_squared": [[1.0, 2.0]]}, "recoil_mass_squared must be 1-D"),
        ({"recoil_mass_squared": [1.0, np.nan]}, "recoil_mass_squared must be finite"),
        ({"recoil_mass_squared": ["a", "b"]}, "recoil_mass_squared must be numeric"),
        ({"hypotheses": [1.0, np.inf]}, "hypotheses must be finite"),
        ({"widths": [0.5]}, r"one width per hypothesis, shape \(2,\)"),
        ({"widths": [0.5, 0.0]}, "widths must be positive; got 0.0"),
        ({"widths": lambda m: -m}, "widths must be positive; got -1.0"),
        ({"n_sigma": 0}, "n_sigma must be a positive finite number; got 0"),
        ({"n_sigma": "2"}, "n_sigma must be a positive finite number"),
        ({"generated_hypothesis": [0]}, r"generated_hypothesis must have shape \(2,\)"),
        ({"generated_hypothesis": [0, 2]}, "index into hypotheses .0 to 1.*got 2.0"),
        ({"generated_hypothesis": [0.5, -1]}, "index into hypotheses.*got 0.5"),
        ({"generated_hypothesis": [-2, -1]}, "index into hypotheses.*got -2.0"),
        ({"generated_hypothesis": ["x", "y"]}, "must hold integer hypothesis indices"),
    ],
)
def test_errors(kwargs, match):
    arguments = {
        "recoil_mass_squared": [1.0, 4.0],
        "hypotheses": [1.0, 2.0],
        "widths": [0.5, 0.5],
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        mass_windows(**arguments)
