"""Invariants of the Punzi-loss and the Punzi figure of merit (property-based)."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skpunzi import PunziLoss, punzi_fom, punzi_sensitivity

# Few, small examples: every property is cheap and the suite stays fast.
PROPERTY = settings(max_examples=50, deadline=None)

MAX_HYPOTHESES = 4


@st.composite
def samples(draw, min_events=1, max_events=30):
    """Events with every hypothesis holding at least one signal event.

    Returns ``(output, target, weight, groups, n_hypotheses)`` as numpy
    arrays: ``output`` in (0, 1], positive weights, 1-D window labels with
    -1 for "in no window".
    """
    n_hypotheses = draw(st.integers(1, MAX_HYPOTHESES))
    n = draw(st.integers(min_events, max_events)) + n_hypotheses
    output = draw(arrays(np.float64, n, elements=st.floats(0.01, 1.0)))
    target = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    weight = draw(arrays(np.float64, n, elements=st.floats(0.01, 100.0)))
    groups = draw(arrays(np.int64, n, elements=st.integers(-1, n_hypotheses - 1)))

    # The first events are the signal of each hypothesis in turn, so that
    # no hypothesis is left out (that case has tests of its own).
    target[:n_hypotheses] = 1
    groups[:n_hypotheses] = np.arange(n_hypotheses)
    return output, target, weight, groups, n_hypotheses


def _loss(output, target, weight, groups, **kwargs):
    return PunziLoss()(torch.as_tensor(output), target, weight, groups, **kwargs).item()


def _sums(output, target, weight, groups, **kwargs):
    efficiency, background = PunziLoss().window_sums(
        torch.as_tensor(output), target, weight, groups, **kwargs
    )
    return efficiency.numpy(), background.numpy()


# The Punzi-loss ------------------------------------------------------------


@PROPERTY
@given(samples(), st.randoms(use_true_random=False))
def test_loss_is_invariant_under_permutation_of_events(sample, random):
    output, target, weight, groups, _ = sample
    order = np.array(random.sample(range(len(output)), len(output)))
    permuted = _loss(output[order], target[order], weight[order], groups[order])
    assert permuted == pytest.approx(_loss(output, target, weight, groups), rel=1e-12)


@PROPERTY
@given(samples(), st.floats(1e-3, 1e3))
def test_scaling_background_weights_scales_background(sample, k):
    output, target, weight, groups, _ = sample
    scaled = np.where(target == 1, weight, k * weight)
    efficiency, background = _sums(output, target, weight, groups)
    scaled_efficiency, scaled_background = _sums(output, target, scaled, groups)
    np.testing.assert_array_equal(scaled_efficiency, efficiency)
    np.testing.assert_allclose(scaled_background, k * background, rtol=1e-12)


@PROPERTY
@given(
    samples(),
    st.floats(0.01, 1.0),
    st.integers(0, 1),
    st.floats(-100.0, 100.0),
    st.integers(0, 30),
)
def test_event_outside_every_window_changes_nothing(
    sample, output_new, target_new, weight_new, position
):
    output, target, weight, groups, _ = sample
    position = min(position, len(output))

    def insert(values, value):
        return np.insert(values, position, value)

    expected = _loss(output, target, weight, groups)
    got = _loss(
        insert(output, output_new),
        insert(target, target_new),
        insert(weight, weight_new),
        insert(groups, -1),
    )
    assert got == expected


@PROPERTY
@given(
    st.floats(1e-6, 1e3),
    st.floats(0.0, 1e6),
    st.floats(1e-3, 1e3),
    st.sampled_from(["paper", "refined"]),
)
def test_sensitivity_rises_with_background_falls_with_efficiency(
    efficiency, background, delta, formula
):
    def sensitivity(e, b):
        return float(punzi_sensitivity(e, b, formula=formula))

    base = sensitivity(efficiency, background)
    assert sensitivity(efficiency, background + delta) > base
    assert sensitivity(efficiency * (1 + delta), background) < base


@PROPERTY
@given(samples())
def test_loss_gradient_signs(sample):
    # More output on background can only hurt, on signal only help.
    output, target, weight, groups, _ = sample
    output = torch.tensor(output, requires_grad=True)
    PunziLoss()(output, target, weight, groups).backward()
    gradient = output.grad.numpy()
    assert np.all(gradient[target == 0] >= 0)
    assert np.all(gradient[target == 1] <= 0)
    assert np.all(gradient[groups == -1] == 0)


@PROPERTY
@given(samples(min_events=4), st.integers(2, 5))
def test_batching_with_scaling_is_unbiased(sample, n_batches):
    output, target, weight, groups, _ = sample
    efficiency, background = _sums(output, target, weight, groups)

    batches = np.array_split(np.arange(len(output)), n_batches)
    scaled = [
        _sums(output[b], target[b], weight[b], groups[b], scale=n_batches)
        for b in batches
    ]
    # Every batch must describe all hypotheses, even one it holds no event of.
    n_hypotheses = efficiency.shape[0]
    padded = [
        (np.pad(e, (0, n_hypotheses - len(e))), np.pad(b, (0, n_hypotheses - len(b))))
        for e, b in scaled
    ]
    np.testing.assert_allclose(
        np.mean([e for e, _ in padded], axis=0), efficiency, rtol=1e-12
    )
    np.testing.assert_allclose(
        np.mean([b for _, b in padded], axis=0), background, rtol=1e-12, atol=1e-12
    )


# The figure of merit -------------------------------------------------------

THRESHOLDS = st.one_of(
    st.floats(0.0, 1.0), st.sampled_from(["optimal", "per_hypothesis"])
)


def _fom(output, target, weight, groups, threshold):
    return punzi_fom(
        target, output, sample_weight=weight, groups=groups, threshold=threshold
    )


@PROPERTY
@given(samples(), THRESHOLDS, st.randoms(use_true_random=False))
def test_fom_is_invariant_under_permutation_of_events(sample, threshold, random):
    output, target, weight, groups, _ = sample
    order = np.array(random.sample(range(len(output)), len(output)))
    np.testing.assert_allclose(
        _fom(output[order], target[order], weight[order], groups[order], threshold),
        _fom(output, target, weight, groups, threshold),
        rtol=1e-12,
    )


@PROPERTY
@given(samples(), st.floats(0.0, 1.0), st.floats(1e-3, 1e3))
def test_fom_is_the_sensitivity_of_the_selected_sums(sample, threshold, k):
    # The figure of merit of a cut is 1 / sigma_min of the window sums of the
    # selected events; scaling background weights by k scales B by k.
    output, target, weight, groups, _ = sample
    scaled = np.where(target == 1, weight, k * weight)
    selected = (output > threshold).astype(np.float64)
    efficiency, background = _sums(selected, target, weight, groups)
    expected = np.where(
        efficiency > 0,
        1 / punzi_sensitivity(np.maximum(efficiency, 1e-300), k * background),
        0.0,
    )
    np.testing.assert_allclose(
        _fom(output, target, scaled, groups, threshold), expected, rtol=1e-9
    )


@PROPERTY
@given(
    samples(),
    THRESHOLDS,
    st.floats(0.0, 1.0),
    st.integers(0, 1),
    st.floats(-100.0, 100.0),
)
def test_fom_ignores_events_outside_every_window(
    sample, threshold, score_new, target_new, weight_new
):
    output, target, weight, groups, _ = sample
    expected = _fom(output, target, weight, groups, threshold)
    got = _fom(
        np.append(output, score_new),
        np.append(target, target_new),
        np.append(weight, weight_new),
        np.append(groups, -1),
        threshold,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@PROPERTY
@given(
    samples(),
    st.sampled_from([0.5, "per_hypothesis"]),
    st.floats(0.0, 1.0),
    st.floats(0.01, 100.0),
    st.integers(0, MAX_HYPOTHESES - 1),
)
def test_fom_falls_with_background_and_rises_with_signal(
    sample, threshold, score_new, weight_new, hypothesis
):
    output, target, weight, groups, n_hypotheses = sample
    hypothesis = hypothesis % n_hypotheses
    base = _fom(output, target, weight, groups, threshold)

    def with_event(is_signal):
        return _fom(
            np.append(output, score_new),
            np.append(target, is_signal),
            np.append(weight, weight_new),
            np.append(groups, hypothesis),
            threshold,
        )

    # Adding an event can only move its own window's figure of merit (up to
    # the last bit: the cumulative sums run in another order).
    more_background, more_signal = with_event(0), with_event(1)
    others = np.arange(n_hypotheses) != hypothesis
    np.testing.assert_allclose(more_background[others], base[others], rtol=1e-12)
    assert more_background[hypothesis] <= base[hypothesis] * (1 + 1e-12)
    assert more_signal[hypothesis] >= base[hypothesis] * (1 - 1e-12)
