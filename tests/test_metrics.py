"""Tests for the Punzi figure of merit, ``punzi_fom``."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skpunzi import punzi_fom, punzi_sensitivity

MODES = [0.5, 0.25, "per_hypothesis", "optimal"]
GROUP_KINDS = ["none", "labels", "dense", "sparse"]

no_signal_ignored = pytest.mark.filterwarnings("ignore:No signal event")


def make_events(seed, n_samples=40, n_hypotheses=4, kind="dense", weights="pos"):
    """Small random sample with ties in the scores and overlapping windows."""
    rng = np.random.default_rng(seed)
    y_true = (rng.random(n_samples) < 0.4).astype(int)

    # Scores rounded to one decimal: many ties, and exact cut values.
    y_score = rng.integers(0, 11, n_samples) / 10
    if weights == "none":
        sample_weight = None
    elif weights == "pos":
        sample_weight = rng.uniform(0.1, 2.0, n_samples)
    else:
        sample_weight = rng.uniform(-0.5, 2.0, n_samples)

    if kind == "none":
        indicator = np.ones((n_samples, 1), dtype=int)
        groups = None
    elif kind == "labels":
        labels = rng.integers(-1, n_hypotheses, n_samples)
        labels[:n_hypotheses] = np.arange(n_hypotheses)
        indicator = (labels[:, None] == np.arange(n_hypotheses)).astype(int)
        groups = labels
    else:
        indicator = (rng.random((n_samples, n_hypotheses)) < 0.5).astype(int)
        groups = indicator if kind == "dense" else sp.csr_matrix(indicator)
    return y_true, y_score, sample_weight, groups, indicator


def brute_force(y_true, y_score, sample_weight, indicator, cut, **constants):
    """FOM of every hypothesis after ``y_score > cut``, one sum at a time."""
    weight = np.ones(len(y_score)) if sample_weight is None else sample_weight
    fom = np.zeros(indicator.shape[1])
    for h in range(indicator.shape[1]):
        selected = (indicator[:, h] == 1) & (y_score > cut)
        efficiency = weight[selected & (y_true == 1)].sum()
        background = max(weight[selected & (y_true == 0)].sum(), 0.0)
        if efficiency > 0:
            fom[h] = 1 / punzi_sensitivity(efficiency, background, **constants)
    return fom


def brute_force_search(y_true, y_score, sample_weight, indicator, mode, **constants):
    """Best FOM over every cut between distinct scores (and none, and all)."""
    cuts = np.concatenate([[-np.inf], np.unique(y_score), [np.inf]])
    table = np.array(
        [
            brute_force(y_true, y_score, sample_weight, indicator, cut, **constants)
            for cut in cuts
        ]
    )
    if mode == "per_hypothesis":
        return table.max(axis=0)
    has_signal = (indicator[y_true == 1] == 1).any(axis=0)
    if not has_signal.any():
        return np.zeros(indicator.shape[1])
    return table[np.argmax(table[:, has_signal].mean(axis=1))]


@no_signal_ignored
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", GROUP_KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("weights", ["none", "pos", "neg"])
def test_matches_brute_force(seed, kind, mode, weights):
    y_true, y_score, sample_weight, groups, indicator = make_events(
        seed, kind=kind, weights=weights
    )

    fom = punzi_fom(
        y_true, y_score, sample_weight=sample_weight, groups=groups, threshold=mode
    )

    if isinstance(mode, str):
        expected = brute_force_search(y_true, y_score, sample_weight, indicator, mode)
    else:
        expected = brute_force(y_true, y_score, sample_weight, indicator, mode)
    if mode == "optimal":
        # Equal mean FOM may be reached at several cuts; compare the mean.
        has_signal = (indicator[y_true == 1] == 1).any(axis=0)
        np.testing.assert_allclose(
            fom[has_signal].mean(), expected[has_signal].mean(), rtol=1e-10
        )
    else:
        np.testing.assert_allclose(fom, expected, rtol=1e-10, atol=1e-12)


@no_signal_ignored
@pytest.mark.parametrize("formula", ["paper", "refined"])
@pytest.mark.parametrize("mode", ["per_hypothesis", "optimal"])
@pytest.mark.parametrize("constants", [{}, {"a": 5.0, "b": 2.0, "luminosity": 3.0}])
def test_formula_and_constants_match_brute_force(formula, mode, constants):
    y_true, y_score, sample_weight, groups, indicator = make_events(7)

    fom = punzi_fom(
        y_true,
        y_score,
        sample_weight=sample_weight,
        groups=groups,
        threshold=mode,
        formula=formula,
        **constants,
    )

    expected = brute_force_search(
        y_true, y_score, sample_weight, indicator, mode, formula=formula, **constants
    )
    if mode == "optimal":
        np.testing.assert_allclose(fom.mean(), expected.mean(), rtol=1e-10)
    else:
        np.testing.assert_allclose(fom, expected, rtol=1e-10)


@no_signal_ignored
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["labels", "sparse"])
@pytest.mark.parametrize("mode", ["per_hypothesis", "optimal"])
def test_returned_thresholds_reproduce_the_fom(seed, kind, mode):
    y_true, y_score, sample_weight, groups, _ = make_events(seed, kind=kind)

    fom, thresholds = punzi_fom(
        y_true,
        y_score,
        sample_weight=sample_weight,
        groups=groups,
        threshold=mode,
        return_thresholds=True,
    )

    assert thresholds.shape == fom.shape
    if mode == "optimal":
        assert np.unique(thresholds).size == 1
    for h, cut in enumerate(thresholds):
        again = punzi_fom(
            y_true, y_score, sample_weight=sample_weight, groups=groups, threshold=cut
        )
        assert again[h] == pytest.approx(fom[h], rel=1e-12)


@no_signal_ignored
@pytest.mark.parametrize("kind", ["labels", "dense", "sparse"])
def test_one_cut_per_hypothesis(kind):
    y_true, y_score, sample_weight, groups, indicator = make_events(3, kind=kind)
    cuts = np.array([0.15, 0.45, -np.inf, 0.95])

    fom = punzi_fom(
        y_true, y_score, sample_weight=sample_weight, groups=groups, threshold=cuts
    )

    for h, cut in enumerate(cuts):
        expected = brute_force(y_true, y_score, sample_weight, indicator, cut)
        assert fom[h] == pytest.approx(expected[h], rel=1e-12)
    _, returned = punzi_fom(
        y_true,
        y_score,
        sample_weight=sample_weight,
        groups=groups,
        threshold=list(cuts),
        return_thresholds=True,
    )
    np.testing.assert_array_equal(returned, cuts)


def test_hand_computed_value():
    # Cut 0.5 keeps both signal events (eff = 2) and one background (B = 1).
    y_true = [1, 1, 0, 0]
    y_score = [0.9, 0.6, 0.7, 0.2]
    a, b = 3.0, 1.28
    sigma = (b**2 / 2 + a * 1 + b / 2 * np.sqrt(b**2 + 4 * a + 4)) / 2

    fom = punzi_fom(y_true, y_score, a=a, b=b)

    np.testing.assert_allclose(fom, [1 / sigma])
    np.testing.assert_allclose(punzi_fom(y_true, y_score, luminosity=2.0), [2 / sigma])


def test_hand_computed_best_cuts():
    y_true = [1, 1, 0, 0]
    y_score = [0.9, 0.6, 0.7, 0.2]

    fom, cuts = punzi_fom(
        y_true, y_score, threshold="per_hypothesis", return_thresholds=True
    )

    # Only the 0.9 signal event: eff = 1, B = 0, sigma = b^2/2 + b^2/2.
    np.testing.assert_allclose(fom, [1 / 1.28**2])
    np.testing.assert_array_equal(cuts, [0.7])


def test_selecting_everything_gives_minus_inf_cut():
    fom, cuts = punzi_fom(
        [1, 1, 0], [0.3, 0.2, 0.9], threshold="optimal", return_thresholds=True
    )
    # All background sits above the signal: the best is to keep everything
    # below 0.9 too, which still beats keeping nothing.
    assert fom[0] > 0

    fom, cuts = punzi_fom(
        [1, 1, 1], [0.3, 0.2, 0.9], threshold="per_hypothesis", return_thresholds=True
    )
    np.testing.assert_array_equal(cuts, [-np.inf])
    np.testing.assert_allclose(fom, punzi_fom([1, 1, 1], [0.3, 0.2, 0.9], threshold=-1))


def test_selecting_nothing_gives_zero():
    fom = punzi_fom([1, 0], [0.4, 0.2], threshold=0.9)
    np.testing.assert_array_equal(fom, [0.0])


@pytest.mark.parametrize("mode", ["per_hypothesis", "optimal"])
def test_no_positive_efficiency_selects_nothing(mode):
    fom, cuts = punzi_fom(
        [1, 0, 0],
        [0.4, 0.2, 0.9],
        sample_weight=[-1.0, 1.0, 1.0],
        threshold=mode,
        return_thresholds=True,
    )
    np.testing.assert_array_equal(fom, [0.0])
    np.testing.assert_array_equal(cuts, [np.inf])


def test_negative_background_is_clamped_at_zero():
    # The selected background sums to -0.5; the FOM is that of B = 0.
    fom = punzi_fom([1, 0, 0], [0.9, 0.8, 0.7], sample_weight=[1.0, 0.5, -1.0])
    np.testing.assert_allclose(fom, [1 / punzi_sensitivity(1.0, 0.0)])


def test_warns_once_listing_hypotheses_without_signal():
    y_true = [1, 0, 0, 1]
    groups = np.array([0, 1, 3, 2])

    with pytest.warns(UserWarning, match=r"hypotheses \[1, 3\]") as record:
        fom = punzi_fom(y_true, [0.9, 0.8, 0.7, 0.6], groups=groups)

    assert len(record) == 1
    assert fom[1] == 0 and fom[3] == 0


def test_no_warning_when_every_hypothesis_has_signal():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        punzi_fom([1, 0, 1], [0.9, 0.8, 0.7], groups=[0, 0, 1], threshold="optimal")


@no_signal_ignored
def test_optimal_without_any_signal_returns_zeros():
    fom, cuts = punzi_fom(
        [0, 0], [0.9, 0.1], threshold="optimal", return_thresholds=True
    )
    np.testing.assert_array_equal(fom, [0.0])
    np.testing.assert_array_equal(cuts, [np.inf])


@pytest.mark.parametrize(
    "y_true, pos_label",
    [
        ([0, 1, 1, 0], None),
        ([-1, 1, 1, -1], None),
        ([False, True, True, False], None),
        ([0.0, 1.0, 1.0, 0.0], None),
        (["bkg", "sig", "sig", "bkg"], "sig"),
        ([1, 0, 0, 1], 0),
    ],
)
def test_signal_labels(y_true, pos_label):
    y_score = [0.1, 0.8, 0.7, 0.9]

    fom = punzi_fom(y_true, y_score, pos_label=pos_label)

    expected = punzi_fom([0, 1, 1, 0], y_score)
    np.testing.assert_allclose(fom, expected)


def test_pandas_inputs():
    frame = pd.DataFrame(
        {
            "label": [0, 1, 1, 0],
            "score": [0.1, 0.8, 0.7, 0.9],
            "weight": [1.0, 0.5, 0.5, 2.0],
            "window": [0, 0, 1, 1],
        }
    )

    fom = punzi_fom(
        frame["label"],
        frame["score"],
        sample_weight=frame["weight"],
        groups=frame["window"],
    )

    expected = punzi_fom(
        frame["label"].to_numpy(),
        frame["score"].to_numpy(),
        sample_weight=frame["weight"].to_numpy(),
        groups=frame["window"].to_numpy(),
    )
    np.testing.assert_allclose(fom, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y_score": [0.1, 0.2]}, "y_true has 3 entries but y_score has 2"),
        ({"y_score": [0.1, np.nan, 0.3]}, "y_score contains NaN"),
        ({"y_score": [[0.1], [0.2], [0.3]]}, "y_score must be 1-D"),
        ({"sample_weight": [1.0, np.inf, 1.0]}, "sample_weight contains inf"),
        ({"sample_weight": [1.0, 1.0]}, r"sample_weight must have shape \(3,\)"),
        ({"groups": [0, 1]}, "groups describes 2 events"),
        ({"y_true": [0, 1, 2]}, "y_true must hold two classes"),
        ({"y_true": ["b", "s", "s"]}, "pass pos_label"),
        ({"y_true": [3, 4, 4]}, "pass pos_label"),
        ({"pos_label": 2}, "pos_label=2 is not a label of y_true"),
        ({"threshold": "best"}, "threshold must be a number, an array of one"),
        ({"threshold": np.nan}, "threshold must not be NaN"),
        ({"threshold": [0.5, np.nan]}, "threshold must not contain NaN"),
        ({"threshold": [[0.5]]}, "threshold must be a number, an array of one"),
        ({"threshold": ["a"]}, "threshold must be a number, an array of one"),
        ({"threshold": [0.5, 0.6]}, "threshold holds 2 cuts but groups defines 1"),
        ({"formula": "punzi"}, "formula must be one of"),
        ({"a": -1.0}, "a must be a finite number >= 0; got -1.0"),
        ({"b": 0.0}, "b must be a positive finite number; got 0.0"),
        ({"luminosity": np.inf}, "luminosity must be a positive finite number"),
    ],
)
def test_errors(kwargs, match):
    arguments = {"y_true": [0, 1, 1], "y_score": [0.1, 0.2, 0.3], **kwargs}
    with pytest.raises(ValueError, match=match):
        punzi_fom(**arguments)


# Property tests on small random samples: a few distinct scores give ties.
@st.composite
def samples(draw):
    n_samples = draw(st.integers(1, 25))
    n_hypotheses = draw(st.integers(1, 4))
    y_true = draw(hnp.arrays(np.int8, n_samples, elements=st.integers(0, 1)))
    y_score = draw(
        hnp.arrays(np.float64, n_samples, elements=st.sampled_from([0.0, 0.3, 0.5, 1]))
    )
    weight = draw(
        hnp.arrays(np.float64, n_samples, elements=st.floats(0.125, 10.0, width=32))
    )
    indicator = draw(
        hnp.arrays(np.int8, (n_samples, n_hypotheses), elements=st.integers(0, 1))
    )
    return y_true, y_score, weight, indicator


def _fom(y_true, y_score, weight, indicator, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fom = punzi_fom(
            y_true, y_score, sample_weight=weight, groups=indicator, threshold=mode
        )
    has_signal = (indicator[y_true == 1] == 1).any(axis=0)
    # "optimal" may reach the same mean at several cuts: compare the mean.
    if mode == "optimal":
        return np.array([fom[has_signal].mean() if has_signal.any() else 0.0])
    return fom


@settings(max_examples=60)
@given(sample=samples(), mode=st.sampled_from(MODES), data=st.data())
def test_property_permuting_events_changes_nothing(sample, mode, data):
    y_true, y_score, weight, indicator = sample
    order = data.draw(st.permutations(range(len(y_true))))

    before = _fom(y_true, y_score, weight, indicator, mode)
    after = _fom(y_true[order], y_score[order], weight[order], indicator[order], mode)

    np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)


@settings(max_examples=60)
@given(
    sample=samples(),
    mode=st.sampled_from(MODES),
    label=st.integers(0, 1),
    score=st.floats(0, 1),
)
def test_property_event_outside_windows_changes_nothing(sample, mode, label, score):
    y_true, y_score, weight, indicator = sample
    outside = np.zeros((1, indicator.shape[1]), dtype=indicator.dtype)

    before = _fom(y_true, y_score, weight, indicator, mode)
    after = _fom(
        np.append(y_true, label),
        np.append(y_score, score),
        np.append(weight, 5.0),
        np.vstack([indicator, outside]),
        mode,
    )

    np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)


@settings(max_examples=60)
@given(sample=samples(), factor=st.floats(0.1, 100.0))
def test_property_scaling_background_weights_scales_background(sample, factor):
    y_true, y_score, weight, indicator = sample
    selected = indicator * (y_score > 0.4)[:, None]
    efficiency = (weight * (y_true == 1)) @ selected
    background = (weight * (y_true == 0)) @ selected
    scaled = np.where(y_true == 1, weight, weight * factor)

    fom = _fom(y_true, y_score, scaled, indicator, 0.4)

    expected = 1 / punzi_sensitivity(efficiency, factor * background)
    expected[efficiency <= 0] = 0.0
    np.testing.assert_allclose(fom, expected, rtol=1e-9)
