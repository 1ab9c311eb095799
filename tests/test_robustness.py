"""Robustness of PunziClassifier and PunziLoss: odd inputs and failed training."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skpunzi import PunziClassifier, PunziLoss, _classifier
from skpunzi._training import BCEObjective, PunziObjective

FAST = {"pretrain_epochs": 5, "max_epochs": 5, "random_state": 0}


def _events(n=300, signal_fraction=0.3, n_hypotheses=3, seed=0):
    """Signal shifted by +1 in 3 features, hypothesis labels, unit weights."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < signal_fraction).astype(int)
    X = rng.normal(size=(n, 3)) + y[:, None]
    groups = rng.integers(0, n_hypotheses, n)
    return X, y, np.ones(n), groups


def _assert_usable(clf, X):
    """Fitted, and finite probabilities in [0, 1] for every event."""
    check_is_fitted(clf)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    assert np.all(np.isfinite(proba))
    assert np.all((proba >= 0) & (proba <= 1))


# Invalid inputs ------------------------------------------------------------


def _with(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused(value):
    X, y, _, _ = _events()
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        PunziClassifier(**FAST).fit(_with(X, (3, 1), value), y)

    clf = PunziClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        clf.predict(_with(X, (3, 1), value))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_weights_are_refused(value):
    X, y, weight, _ = _events()
    with pytest.raises(ValueError, match="sample_weight contains NaN or infinity"):
        PunziClassifier(**FAST).fit(X, y, sample_weight=_with(weight, 3, value))


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("layout", ["labels", "indicator", "sparse"])
def test_non_finite_groups_are_refused(value, layout):
    X, y, _, groups = _events()
    if layout == "labels":
        groups = _with(groups, 3, value)
    else:
        indicator = np.zeros((len(y), 3))
        indicator[np.arange(len(y)), groups] = 1.0
        groups = _with(indicator, (3, 1), value)
        if layout == "sparse":
            groups = sp.csr_matrix(groups)
    with pytest.raises(ValueError, match="groups contains NaN or infinity"):
        PunziClassifier(**FAST).fit(X, y, groups=groups)


def test_features_beyond_float32_are_refused():
    # The network computes in float32: 1e39 would become infinite there.
    X, y, _, _ = _events()
    with pytest.raises(ValueError, match="beyond the float32 range"):
        PunziClassifier(**FAST).fit(X * 1e39, y)

    clf = PunziClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"up to 1e\+39 in magnitude, beyond"):
        clf.predict_proba(_with(X, (0, 0), -1e39))


def test_wrong_features_at_predict_time():
    X, y, _, _ = _events()
    clf = PunziClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but PunziClassifier"):
        clf.predict(X[:, :2])

    frame = pd.DataFrame(X, columns=["pt", "eta", "phi"])
    clf = PunziClassifier(**FAST).fit(frame, y)
    with pytest.raises(ValueError, match="must be in the same order"):
        clf.predict(frame[["phi", "pt", "eta"]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        clf.predict(frame.rename(columns={"phi": "mass"}))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_predict_before_fit(method):
    X, _, _, _ = _events(n=10)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(PunziClassifier(), method)(X)


def test_failed_fit_leaves_the_estimator_unfitted():
    # validate_data sets n_features_in_ before the groups are found wrong;
    # that must not make the estimator look fitted.
    X, y, _, _ = _events()
    clf = PunziClassifier(**FAST)
    with pytest.raises(ValueError, match="groups describes"):
        clf.fit(X, y, groups=np.zeros(len(y) - 1, dtype=int))
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_empty_X():
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        PunziClassifier(**FAST).fit(np.empty((0, 3)), np.empty(0))


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.ones(300, dtype=int), "only one class"),
        (np.arange(300) % 3, "Only binary classification is supported.*3 classes"),
        (np.linspace(0, 1, 300), "Unknown label type: continuous"),
    ],
)
def test_unusable_labels(labels, match):
    X, _, _, _ = _events()
    with pytest.raises(ValueError, match=match):
        PunziClassifier(**FAST).fit(X, labels)


@pytest.mark.parametrize(
    "to_labels, signal",
    [
        (lambda y: np.where(y == 1, "zprime", "bkg"), "zprime"),
        (lambda y: y.astype(bool), True),
        (lambda y: y.astype(float), 1.0),
        (lambda y: np.where(y == 1, 1, -1), 1),
        (lambda y: pd.Series(np.where(y == 1, "s", "b"), dtype="category"), "s"),
    ],
)
def test_label_types(to_labels, signal):
    X, y, _, groups = _events()
    labels = to_labels(y)
    clf = PunziClassifier(**FAST).fit(X, labels, groups=groups)
    assert clf.classes_[1] == signal
    predicted = clf.predict(X)
    assert set(predicted) <= set(clf.classes_)
    np.testing.assert_array_equal(predicted == signal, clf.predict_proba(X)[:, 1] > 0.5)


# Windows (groups) ----------------------------------------------------------


@pytest.mark.parametrize(
    "groups, match",
    [
        (np.zeros(299, dtype=int), "groups describes 299 events but X has 300"),
        (np.zeros((301, 2), dtype=int), "groups describes 301 events but X has 300"),
        (np.full(300, -2), r"must be >= -1 \(-1 means 'in no window'\); got -2"),
        (np.full((300, 2), 2), "0/1 indicator .* got the value 2"),
        (sp.csr_matrix(np.full((300, 2), 0.5)), "0/1 indicator .* got the value 0.5"),
        (np.full(300, 0.5), "integer hypothesis indices; got non-integer"),
        (np.full(300, "a"), "integer hypothesis indices"),
        (np.zeros((300, 2, 1)), "got an array of shape"),
    ],
)
def test_invalid_groups(groups, match):
    X, y, _, _ = _events()
    with pytest.raises(ValueError, match=match):
        PunziClassifier(**FAST).fit(X, y, groups=groups)


def test_hypothesis_without_signal_is_warned_and_left_out():
    X, y, _, groups = _events()
    groups = np.where(y == 1, groups % 2, groups)
    with pytest.warns(UserWarning, match="Hypotheses 2 hold no signal events"):
        clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    np.testing.assert_array_equal(clf.hypothesis_weights_, [1.0, 1.0, 0.0])
    assert np.isfinite(clf.punzi_loss_)
    _assert_usable(clf, X)


def test_hypothesis_without_background_has_finite_loss_and_gradient():
    X, y, _, groups = _events()
    groups = np.where(y == 0, groups % 2, groups)
    clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    assert np.isfinite(clf.punzi_loss_)
    assert all(math.isfinite(loss) for loss in clf.loss_curve_)
    _assert_usable(clf, X)

    # The loss itself: sqrt(B) at B = 0 has an infinite slope without a floor.
    output = torch.full((4,), 0.5, dtype=torch.float64, requires_grad=True)
    loss = PunziLoss()(output, [1, 0, 1, 1], groups=[0, 0, 1, 1])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(output.grad).all()


@pytest.mark.parametrize(
    "groups", [np.full(300, -1), np.zeros((300, 2)), sp.csr_matrix((300, 2))]
)
def test_no_event_in_any_window(groups):
    X, y, _, _ = _events()
    with pytest.raises(ValueError, match="No event lies in any hypothesis window"):
        PunziClassifier(**FAST).fit(X, y, groups=groups)


# Weights -------------------------------------------------------------------


def test_negative_weights_are_allowed():
    # NLO generators give some events weight -1; the totals stay positive.
    X, y, _, groups = _events()
    weight = np.where(np.arange(len(y)) % 7 == 0, -1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = PunziClassifier(**FAST).fit(X, y, sample_weight=weight, groups=groups)
    np.testing.assert_array_equal(clf.hypothesis_weights_, [1.0, 1.0, 1.0])
    _assert_usable(clf, X)


def test_negative_background_sum_is_clamped_with_a_warning():
    X, y, _, groups = _events()
    weight = np.where((y == 0) & (groups == 1), -1.0, 1.0)
    with pytest.warns(UserWarning, match="Hypotheses 1 have a negative weighted bac"):
        clf = PunziClassifier(**FAST).fit(X, y, sample_weight=weight, groups=groups)
    np.testing.assert_array_equal(clf.hypothesis_weights_, [1.0, 1.0, 1.0])
    assert np.isfinite(clf.punzi_loss_)
    _assert_usable(clf, X)


def test_non_positive_efficiency_is_left_out_with_a_warning():
    X, y, _, groups = _events()
    weight = np.where((y == 1) & (groups == 2), -1.0, 1.0)
    with pytest.warns(UserWarning, match="Hypotheses 2 have a non-positive weighted"):
        clf = PunziClassifier(**FAST).fit(X, y, sample_weight=weight, groups=groups)
    np.testing.assert_array_equal(clf.hypothesis_weights_, [1.0, 1.0, 0.0])
    _assert_usable(clf, X)


@pytest.mark.parametrize(
    "make_weight, params, match",
    [
        (lambda y: np.zeros(len(y)), {}, "every event has weight 0"),
        (lambda y: 1.0 * y, {}, "Each class needs a positive total weight"),
        (
            lambda y: np.where(y == 1, 0.0, 1.0),
            {"pretrain_epochs": 0},
            "No hypothesis window holds signal events with positive weight",
        ),
    ],
)
def test_zero_total_weight(make_weight, params, match):
    X, y, _, _ = _events()
    clf = PunziClassifier(**{**FAST, **params})
    with pytest.raises(ValueError, match=match), warnings.catch_warnings():
        # Which hypotheses are left out is announced first; the error counts.
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X, y, sample_weight=make_weight(y))


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.ones(299), r"sample_weight must have shape \(300,\)"),
        (np.full(300, "a"), "sample_weight must be numeric"),
    ],
)
def test_invalid_weights(sample_weight, match):
    X, y, _, _ = _events()
    with pytest.raises(ValueError, match=match):
        PunziClassifier(**FAST).fit(X, y, sample_weight=sample_weight)


# Hard but valid data -------------------------------------------------------


@pytest.mark.parametrize("n, signal_fraction", [(400, 0.025), (10_000, 1e-4)])
def test_extreme_imbalance(n, signal_fraction):
    X, y, _, groups = _events(n=n, signal_fraction=signal_fraction, n_hypotheses=1)
    y[0] = 1  # at least one signal event whatever the draw
    clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    assert np.isfinite(clf.pretrain_punzi_loss_) and np.isfinite(clf.punzi_loss_)
    _assert_usable(clf, X)


def test_single_signal_event_per_window():
    X, y, _, groups = _events(signal_fraction=0.0)
    y[:3], groups[:3] = 1, [0, 1, 2]
    clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    np.testing.assert_array_equal(clf.hypothesis_weights_, [1.0, 1.0, 1.0])
    assert np.isfinite(clf.punzi_loss_)
    _assert_usable(clf, X)


@pytest.mark.parametrize("scale", [1e12, 1e-12])
@pytest.mark.parametrize("scale_inputs", ["minmax", "standard"])
def test_huge_and_tiny_features_are_scaled_away(scale, scale_inputs):
    X, y, _, groups = _events()
    params = {**FAST, "scale_inputs": scale_inputs}
    reference = PunziClassifier(**params).fit(X, y, groups=groups)
    clf = PunziClassifier(**params).fit(X * scale, y, groups=groups)
    np.testing.assert_allclose(
        clf.predict_proba(X * scale), reference.predict_proba(X), atol=1e-4
    )


@pytest.mark.parametrize("scale", [1e12, 1e-12])
def test_huge_and_tiny_features_unscaled(scale):
    X, y, _, groups = _events()
    with warnings.catch_warnings():
        # Recovery from a diverging step is allowed here, NaN output is not.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        clf = PunziClassifier(**FAST, scale_inputs=None).fit(X * scale, y)
    _assert_usable(clf, X * scale)


@pytest.mark.parametrize("offset", [0.0, 1e12])
def test_constant_features(offset):
    X, y, _, groups = _events()
    X = np.column_stack([X, np.full(len(y), offset)])
    clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    _assert_usable(clf, X)

    # Nothing to learn from at all: still finite.
    constant = np.full_like(X, 3.0)
    _assert_usable(PunziClassifier(**FAST).fit(constant, y, groups=groups), X)


# Input containers and dtypes -----------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_feature_dtypes(dtype):
    X, y, _, groups = _events()
    X = (X * 10).astype(dtype)
    clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    _assert_usable(clf, X)
    reference = PunziClassifier(**FAST).fit(X.astype(np.float64), y, groups=groups)
    np.testing.assert_allclose(
        clf.predict_proba(X), reference.predict_proba(X), atol=1e-4
    )


def test_pandas_and_lists_give_the_same_model():
    X, y, weight, groups = _events()
    weight = weight * np.linspace(0.5, 1.5, len(y))
    reference = PunziClassifier(**FAST).fit(X, y, sample_weight=weight, groups=groups)

    # A shuffled index must not reorder anything: values are taken in order.
    index = np.random.default_rng(1).permutation(len(y))
    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=index)
    from_pandas = PunziClassifier(**FAST).fit(
        frame,
        pd.Series(y, index=index),
        sample_weight=pd.Series(weight, index=index),
        groups=pd.Series(groups, index=index),
    )
    from_lists = PunziClassifier(**FAST).fit(
        X.tolist(), y.tolist(), sample_weight=weight.tolist(), groups=groups.tolist()
    )
    expected = reference.predict_proba(X)
    np.testing.assert_array_equal(from_pandas.predict_proba(frame), expected)
    # Lists are converted to float32 by validate_data (the network's dtype),
    # so the input scaling differs in the last bits.
    np.testing.assert_allclose(
        from_lists.predict_proba(X.tolist()), expected, rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("to_sparse", [sp.csr_matrix, sp.csc_array])
def test_sparse_features_are_refused(to_sparse):
    # A documented choice: the network needs dense float32 input.
    X, y, _, _ = _events()
    with pytest.raises(TypeError, match="Sparse data was passed .* dense data is"):
        PunziClassifier(**FAST).fit(to_sparse(X), y)

    clf = PunziClassifier(**FAST).fit(X, y)
    with pytest.raises(TypeError, match="dense data is required"):
        clf.predict(to_sparse(X))


# Training failures ---------------------------------------------------------


def _failing(monkeypatch, objective, fail, first_calls=1):
    """Patch ``objective.step`` to ``fail`` on its first calls, then work."""
    original = objective.step
    calls = {"n": 0}

    def step(self, network, batch):
        calls["n"] += 1
        if calls["n"] <= first_calls:
            return fail(self, network, batch)
        return original(self, network, batch)

    monkeypatch.setattr(objective, "step", step)
    return calls


def _nan_step(self, network, batch):
    return math.nan, 1


@pytest.mark.parametrize(
    "objective, phase, learning_rate",
    [
        (BCEObjective, "pretrain", "pretrain_learning_rate"),
        (PunziObjective, "punzi", "learning_rate"),
    ],
)
@pytest.mark.parametrize("first_calls", [1, 3])
def test_nan_loss_restores_lowers_learning_rate_and_goes_on(
    monkeypatch, objective, phase, learning_rate, first_calls
):
    X, y, _, groups = _events()
    _failing(monkeypatch, objective, _nan_step, first_calls)
    clf = PunziClassifier(**FAST)
    with pytest.warns(RuntimeWarning, match=f"{phase}: non-finite loss") as record:
        clf.fit(X, y, groups=groups)

    assert len(record) == first_calls
    assert "restored the parameters it started from" in str(record[0].message)
    entries = [entry for entry in clf.history_ if entry["phase"] == phase]
    assert len(entries) == 5
    assert entries[0]["learning_rate"] == pytest.approx(
        clf.get_params()[learning_rate] * clf.lr_factor**first_calls
    )
    _assert_usable(clf, X)


def test_nan_gradient_is_recovered_like_a_nan_loss(monkeypatch):
    original = PunziObjective.step

    def nan_gradient(self, network, batch):
        loss, size = original(self, network, batch)
        next(network.parameters()).grad.fill_(math.nan)
        return loss, size

    X, y, _, groups = _events()
    _failing(monkeypatch, PunziObjective, nan_gradient)
    with pytest.warns(RuntimeWarning, match="punzi: non-finite loss, gradient"):
        clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    assert clf.n_epochs_ == 5
    _assert_usable(clf, X)


def test_loss_that_stays_nan_stops_the_phase(monkeypatch):
    X, y, _, groups = _events()
    _failing(monkeypatch, PunziObjective, _nan_step, first_calls=10**6)
    with pytest.warns(RuntimeWarning, match="stayed non-finite"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "punzi: non-finite loss", RuntimeWarning)
            clf = PunziClassifier(**FAST).fit(X, y, groups=groups)
    assert clf.n_epochs_ == 0
    assert clf.punzi_loss_ == clf.pretrain_punzi_loss_
    _assert_usable(clf, X)


@pytest.mark.parametrize("batch_size", [None, 64])
def test_exploding_learning_rate(batch_size):
    X, y, _, groups = _events()
    clf = PunziClassifier(
        **FAST, optimizer="sgd", learning_rate=1e6, batch_size=batch_size
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf.fit(X, y, groups=groups)
    assert {w.category for w in record} <= {RuntimeWarning, UserWarning}
    assert np.isfinite(clf.punzi_loss_)
    _assert_usable(clf, X)


def test_diverging_pretraining_is_recovered():
    X, y, _, groups = _events()
    clf = PunziClassifier(
        hidden_layer_sizes=(64,),
        activation="relu",
        scale_inputs=None,
        optimizer="sgd",
        pretrain_learning_rate=1e6,
        **FAST,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X * 1e10, y, groups=groups)
    _assert_usable(clf, X * 1e10)


def _poison_training(monkeypatch):
    """Every phase leaves NaN parameters behind, whatever its safeguards."""
    original = _classifier.run_phase

    def poisoned(network, objective, config):
        result = original(network, objective, config)
        with torch.no_grad():
            next(network.parameters()).fill_(math.nan)
        return result

    monkeypatch.setattr(_classifier, "run_phase", poisoned)


def test_non_finite_network_is_never_kept(monkeypatch):
    # Whatever the training loop leaves behind, NaN scores must not result.
    X, y, _, groups = _events()
    _poison_training(monkeypatch)
    clf = PunziClassifier(**FAST)
    with pytest.raises(ValueError, match="Training diverged: the network's output"):
        with warnings.catch_warnings():
            # The recoveries on the way are announced; the end result counts.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            clf.fit(X, y, groups=groups)
    with pytest.raises(NotFittedError):
        clf.predict(X)


def _interrupt(self, network, batch):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "objective, calls_before, params, expected_epochs",
    [
        # 300 events in batches of 50: 6 steps per pretraining epoch.
        (BCEObjective, 15, {"pretrain_batch_size": 50}, (2, 0)),
        (BCEObjective, 0, {}, (0, 0)),
        (PunziObjective, 3, {}, (5, 3)),
        (PunziObjective, 0, {}, (5, 0)),
        (PunziObjective, 2, {"pretrain_epochs": 0}, (0, 2)),
    ],
)
def test_keyboard_interrupt_keeps_a_usable_model(
    monkeypatch, objective, calls_before, params, expected_epochs
):
    X, y, _, groups = _events()
    original = objective.step
    calls = {"n": 0}

    def step(self, network, batch):
        calls["n"] += 1
        if calls["n"] > calls_before:
            raise KeyboardInterrupt
        return original(self, network, batch)

    monkeypatch.setattr(objective, "step", step)
    clf = PunziClassifier(**{**FAST, **params})
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\)"):
        clf.fit(X, y, groups=groups)

    assert (clf.n_pretrain_epochs_, clf.n_epochs_) == expected_epochs
    assert len(clf.pretrain_loss_curve_) == expected_epochs[0]
    assert len(clf.loss_curve_) == expected_epochs[1]
    assert len(clf.history_) == sum(expected_epochs) < 10
    assert [entry["phase"] for entry in clf.history_] == (
        ["pretrain"] * expected_epochs[0] + ["punzi"] * expected_epochs[1]
    )
    _assert_usable(clf, X)


def test_punzi_phase_without_improvement_keeps_pretrained(monkeypatch):
    X, y, _, groups = _events()
    pretrained = PunziClassifier(**{**FAST, "max_epochs": 0}).fit(X, y, groups=groups)

    # The full-sample loss is measured after pretraining, then after the
    # Punzi phase: make the second measurement the worse one.
    losses = iter([0.25, 0.5])
    monkeypatch.setattr(PunziObjective, "full_loss", lambda self, *args: next(losses))
    clf = PunziClassifier(**FAST)
    with pytest.warns(
        UserWarning,
        match=r"did not improve .* \(0\.25 after pretraining, 0\.5 after 5 epochs\)"
        r"; the pretrained parameters are kept",
    ):
        clf.fit(X, y, groups=groups)

    assert clf.pretrain_punzi_loss_ == clf.punzi_loss_ == 0.25
    assert clf.n_epochs_ == 5
    np.testing.assert_array_equal(clf.predict_proba(X), pretrained.predict_proba(X))


def test_warm_start_failure_keeps_the_fitted_network(monkeypatch):
    X, y, _, groups = _events()
    clf = PunziClassifier(**FAST, warm_start=True).fit(X, y, groups=groups)
    before = clf.predict_proba(X)

    # With a flat loss the Punzi phase's result is kept, NaN and all.
    _poison_training(monkeypatch)
    monkeypatch.setattr(PunziObjective, "full_loss", lambda self, *args: 1.0)
    with pytest.raises(ValueError, match="Training diverged"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            clf.fit(X, y, groups=groups)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
