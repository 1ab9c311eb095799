"""Tests of the Displays: the artists drawn, the values behind them, the errors."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import logit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from threadpoolctl import threadpool_limits

from skpunzi._display import (
    OutputDistributionDisplay,
    PunziFOMDisplay,
    TrainingHistoryDisplay,
    _fom_at_cuts,
)
from skpunzi._groups import check_groups
from skpunzi._sensitivity import punzi_sensitivity

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

N_HYPOTHESES = 4


@pytest.fixture(autouse=True)
def close_figures():
    """Every test ends without open figures."""
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """Fit HistGradientBoosting on one thread: on tiny data a thread pool only
    costs, and on a busy machine its spinning threads can stall for seconds."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture
def sample(rng):
    """A small search: two features, four mass windows, physics-like weights."""
    n = 600
    y = np.repeat([0, 1], n // 2)
    groups = rng.integers(0, N_HYPOTHESES, size=n)
    mass2 = groups * 10.0 + rng.uniform(0, 10, size=n)
    X = np.column_stack([y + rng.normal(0, 1.0, n), rng.normal(0, 1.0, n), mass2])

    # Signal weights are efficiencies (sum 1 per window), background yields.
    weight = np.where(y == 1, 0.0, 0.05)
    for h in range(N_HYPOTHESES):
        in_window = (y == 1) & (groups == h)
        weight[in_window] = 1.0 / in_window.sum()
    return SimpleNamespace(X=X, y=y, groups=groups, mass2=mass2, weight=weight)


def _scores(sample, rng, shift):
    return sample.y * shift + rng.normal(0, 1.0, sample.y.shape[0])


def _legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


# --------------------------------------------------------------------------
# The fixed-cut figure of merit
# --------------------------------------------------------------------------


def test_fom_at_cuts_matches_hand_computation():
    y = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    score = np.array([0.9, 0.2, 0.8, 0.1, 0.7, 0.6])
    weight = np.array([0.5, 0.5, 2.0, 3.0, 1.0, 4.0])
    windows = check_groups(np.array([0, 0, 0, 0, 1, 1]), 6)
    cuts = np.array([0.5, 0.6])

    fom = _fom_at_cuts(
        y,
        score,
        windows,
        cuts,
        sample_weight=weight,
        a=3,
        b=1.28,
        luminosity=1.0,
        formula="paper",
    )

    # Window 0 keeps signal 0.9 (0.5) and background 0.8 (2.0); window 1
    # keeps signal 0.7 (1.0) and no background: the cut is "score > cut".
    expected = 1 / punzi_sensitivity(np.array([0.5, 1.0]), np.array([2.0, 0.0]))
    np.testing.assert_allclose(fom, expected)


def test_fom_at_cuts_nan_cut_and_empty_efficiency():
    y = np.array([1, 0, 1, 0], dtype=bool)
    windows = check_groups(np.array([0, 0, 1, 1]), 4)
    fom = _fom_at_cuts(
        y,
        np.array([0.2, 0.1, 0.3, 0.4]),
        windows,
        np.array([0.5, np.nan]),
        sample_weight=np.ones(4),
        a=3,
        b=1.28,
        luminosity=1.0,
        formula="paper",
    )
    assert fom[0] == 0.0
    assert np.isnan(fom[1])


def test_fom_at_cuts_agrees_with_punzi_fom(sample, rng):
    # The cuts punzi_fom chose, applied again, must give punzi_fom's values:
    # both must use the same convention (score >= cut, the same sums).
    from skpunzi._metrics import punzi_fom

    score = _scores(sample, rng, 2.0)
    kwargs = dict(a=3.0, b=1.28, luminosity=2.0, formula="refined")
    fom, cuts = punzi_fom(
        sample.y,
        score,
        sample_weight=sample.weight,
        groups=sample.groups,
        threshold="per_hypothesis",
        return_thresholds=True,
        **kwargs,
    )
    windows = check_groups(sample.groups, sample.y.shape[0])
    again = _fom_at_cuts(
        sample.y.astype(bool),
        score,
        windows,
        np.asarray(cuts, dtype=float),
        sample_weight=sample.weight,
        **kwargs,
    )
    np.testing.assert_allclose(again, fom, rtol=1e-9)


# --------------------------------------------------------------------------
# PunziFOMDisplay
# --------------------------------------------------------------------------


def test_fom_display_plot_marks_trained_and_unseen():
    trained = np.array([True, False, True, False])
    display = PunziFOMDisplay(
        fom={"BDT": [3.0, 3.5, 4.0, 4.2], "net": [3.2, 3.4, 4.1, 4.0]},
        hypotheses=[4.0, 1.0, 2.0, 3.0],
        trained=trained,
    ).plot(error=None, xlabel="Z' mass")

    assert len(display.lines_) == 2
    assert [line.get_label() for line in display.lines_] == ["BDT", "net"]
    # Lines run left to right, whatever the order of the hypotheses.
    np.testing.assert_array_equal(display.lines_[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(display.lines_[0].get_ydata(), [3.5, 4, 4.2, 3])

    for i in range(2):
        circles, triangles = display.trained_markers_[i], display.unseen_markers_[i]
        assert circles.get_marker() == "o" and triangles.get_marker() == "^"
        np.testing.assert_array_equal(circles.get_xdata(), [2.0, 4.0])
        np.testing.assert_array_equal(triangles.get_xdata(), [1.0, 3.0])
        assert circles.get_color() == display.lines_[i].get_color()

    assert _legend_texts(display.legend_) == ["BDT", "net", "trained", "not trained"]
    assert display.ax_.get_xlabel() == "Z' mass"
    assert "FOM" in display.ax_.get_ylabel()
    assert display.figure_ is display.ax_.figure
    assert display.errors_ == [None, None]


def test_fom_display_without_trained_mask():
    display = PunziFOMDisplay(fom=np.array([1.0, 2.0, 3.0])).plot()

    assert display.trained_markers_ == [None] and display.unseen_markers_ == [None]
    assert display.lines_[0].get_marker() == "o"
    assert _legend_texts(display.legend_) == ["curve 0"]
    np.testing.assert_array_equal(display.lines_[0].get_xdata(), [0, 1, 2])


@pytest.mark.parametrize(
    "error, artist_type", [("band", PolyCollection), ("bars", ErrorbarContainer)]
)
def test_fom_display_error_styles(error, artist_type):
    fom = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    std = np.array([[0.1, 0.2, 0.1], [np.nan, np.nan, np.nan]])
    display = PunziFOMDisplay(fom=fom, fom_std=std, names=["a", "b"]).plot(error=error)

    assert isinstance(display.errors_[0], artist_type)
    # A curve from a single fit has no error to draw.
    assert display.errors_[1] is None


def test_fom_display_band_spans_one_standard_error():
    display = PunziFOMDisplay(fom=[[1.0, 2.0]], fom_std=[[0.5, 0.25]]).plot()
    vertices = display.errors_[0].get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(0.5)
    assert vertices[:, 1].max() == pytest.approx(2.25)


def test_fom_display_from_predictions_modes(sample, rng):
    from skpunzi._metrics import punzi_fom

    scores = {"BDT": _scores(sample, rng, 2.0), "net": _scores(sample, rng, 1.0)}
    display = PunziFOMDisplay.from_predictions(
        sample.y,
        scores,
        sample_weight=sample.weight,
        groups=sample.groups,
        hypotheses=[1.0, 2.0, 3.0, 4.0],
        trained=np.array([True, False, True, False]),
        threshold={"BDT": "per_hypothesis", "net": 0.5},
        luminosity=3.0,
    )

    for name, mode in (("BDT", "per_hypothesis"), ("net", 0.5)):
        expected = punzi_fom(
            sample.y,
            scores[name],
            sample_weight=sample.weight,
            groups=sample.groups,
            threshold=mode,
            luminosity=3.0,
        )
        np.testing.assert_allclose(display.fom[name], expected)
        assert display.thresholds[name].shape == (1, N_HYPOTHESES)
    np.testing.assert_array_equal(display.thresholds["net"], 0.5)
    assert len(display.lines_) == 2
    assert display.errors_ == [None, None]


def test_fom_display_several_fits_mean_and_standard_error(sample, rng):
    fits = [_scores(sample, rng, 1.5) for _ in range(3)]
    display = PunziFOMDisplay.from_predictions(
        sample.y,
        {"net": fits},
        sample_weight=sample.weight,
        groups=sample.groups,
        threshold=0.7,
        error="bars",
    )

    windows = check_groups(sample.groups, sample.y.shape[0])
    per_fit = np.vstack(
        [
            _fom_at_cuts(
                sample.y.astype(bool),
                fit,
                windows,
                np.full(N_HYPOTHESES, 0.7),
                sample_weight=sample.weight,
                a=3.0,
                b=1.28,
                luminosity=1.0,
                formula="paper",
            )
            for fit in fits
        ]
    )
    np.testing.assert_allclose(display.fom["net"], per_fit.mean(axis=0))
    np.testing.assert_allclose(
        display.fom_std["net"], per_fit.std(axis=0, ddof=1) / np.sqrt(3)
    )
    assert display.thresholds["net"].shape == (3, N_HYPOTHESES)
    assert isinstance(display.errors_[0], ErrorbarContainer)


def test_fom_display_cuts_from_validation_applied_to_test(sample, rng):
    # The honest comparison: cuts chosen on one sample, applied to another.
    valid = {"BDT": [_scores(sample, rng, 2.0), _scores(sample, rng, 2.0)]}
    test = {"BDT": [_scores(sample, rng, 2.0), _scores(sample, rng, 2.0)]}
    common = dict(sample_weight=sample.weight, groups=sample.groups)
    on_valid = PunziFOMDisplay.from_predictions(sample.y, valid, **common)
    on_test = PunziFOMDisplay.from_predictions(
        sample.y, test, threshold=on_valid.thresholds, **common
    )

    np.testing.assert_array_equal(on_test.thresholds["BDT"], on_valid.thresholds["BDT"])
    windows = check_groups(sample.groups, sample.y.shape[0])
    expected = np.mean(
        [
            _fom_at_cuts(
                sample.y.astype(bool),
                fit,
                windows,
                cuts,
                sample_weight=sample.weight,
                a=3.0,
                b=1.28,
                luminosity=1.0,
                formula="paper",
            )
            for fit, cuts in zip(test["BDT"], on_valid.thresholds["BDT"], strict=True)
        ],
        axis=0,
    )
    np.testing.assert_allclose(on_test.fom["BDT"], expected)

    # A single array of cuts is shared by every fit.
    shared = PunziFOMDisplay.from_predictions(
        sample.y, test, threshold=on_valid.thresholds["BDT"][0], **common
    )
    np.testing.assert_array_equal(
        shared.thresholds["BDT"], np.tile(on_valid.thresholds["BDT"][0], (2, 1))
    )


def test_fom_display_from_estimator(sample):
    X, y = sample.X[:, :2], np.where(sample.y == 1, "signal", "background")
    logistic = LogisticRegression().fit(X, y)
    boosted = [
        HistGradientBoostingClassifier(max_iter=5, random_state=seed).fit(X, y)
        for seed in range(2)
    ]
    display = PunziFOMDisplay.from_estimator(
        {"logistic": logistic, "BDT": boosted},
        X,
        y,
        sample_weight=sample.weight,
        groups=sample.groups,
        threshold={"logistic": 0.5, "BDT": "per_hypothesis"},
    )

    expected = PunziFOMDisplay.from_predictions(
        sample.y,
        {"logistic": logistic.predict_proba(X)[:, 1]},
        sample_weight=sample.weight,
        groups=sample.groups,
        threshold=0.5,
    )
    np.testing.assert_allclose(display.fom["logistic"], expected.fom["logistic"])
    assert display.thresholds["BDT"].shape == (2, N_HYPOTHESES)
    assert _legend_texts(display.legend_) == ["logistic", "BDT"]


def test_fom_display_from_estimator_single_classifier(sample):
    X = sample.X[:, :2]
    model = LogisticRegression().fit(X, sample.y)
    display = PunziFOMDisplay.from_estimator(model, X, sample.y, threshold=0.5)
    assert list(display.fom) == ["LogisticRegression"]
    assert display.fom["LogisticRegression"].shape == (1,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": "best"}, "threshold must be a number"),
        ({"threshold": np.nan}, "must be a number, got NaN"),
        ({"threshold": {"a": 0.5}}, r"missing \['b'\], unknown \[\]"),
        ({"threshold": {"a": 0.5, "b": 0.5, "c": 1}}, r"unknown \['c'\]"),
        ({"threshold": [0.5, 0.5]}, "holds 2 cuts but groups defines 4"),
        ({"threshold": np.zeros((3, 4))}, r"one row per fit .* \(1, 4\)"),
        ({"names": ["only one"]}, "one label per curve"),
        ({"trained": np.array([1, 0, 1, 0])}, "boolean mask"),
        ({"trained": np.array([True, False])}, r"trained must have shape \(4,\)"),
        ({"hypotheses": [1.0, 2.0]}, "one value per hypothesis"),
        ({"error": "shade"}, "error must be one of"),
        ({"formula": "exact"}, "formula must be one of"),
        ({"sample_weight": np.ones(3)}, r"sample_weight must have shape \(600,\)"),
    ],
)
def test_fom_display_from_predictions_errors(sample, rng, kwargs, match):
    scores = {"a": _scores(sample, rng, 1.0), "b": _scores(sample, rng, 1.0)}
    with pytest.raises(ValueError, match=match):
        PunziFOMDisplay.from_predictions(
            sample.y, scores, groups=sample.groups, **kwargs
        )


@pytest.mark.parametrize(
    "y_scores, y_true, match",
    [
        ({"a": np.zeros(5)}, np.zeros(6), r"one value per event \(6\)"),
        ({"a": [np.zeros(6), np.zeros(5)]}, np.zeros(6), r"y_scores\['a'\]"),
        ({"a": np.full(6, np.nan)}, np.zeros(6), "NaN or infinity"),
        ({"a": np.zeros(6)}, np.array([0, 1, 2, 0, 1, 0]), "must hold the labels 1"),
        ({}, np.zeros(6), "y_scores is empty"),
    ],
)
def test_fom_display_from_predictions_bad_inputs(y_scores, y_true, match):
    with pytest.raises(ValueError, match=match):
        PunziFOMDisplay.from_predictions(y_true, y_scores, threshold=0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fom": np.zeros((2, 3, 1))}, r"shape \(n_curves, n_hypotheses\)"),
        ({"fom": {"a": [1.0, 2.0], "b": [1.0]}}, "Every entry of fom"),
        ({"fom": [[1.0, 2.0]], "fom_std": [[1.0]]}, "fom_std must have the shape"),
        ({"fom": {"a": [1.0]}, "fom_std": {"b": [1.0]}}, "no entry for the curves"),
    ],
)
def test_fom_display_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PunziFOMDisplay(**kwargs).plot()


def test_fom_display_from_estimator_needs_fitted_classifier(sample):
    with pytest.raises(NotFittedError):
        PunziFOMDisplay.from_estimator({"lr": LogisticRegression()}, sample.X, sample.y)


# --------------------------------------------------------------------------
# OutputDistributionDisplay
# --------------------------------------------------------------------------


def test_output_display_from_predictions(sample, rng):
    from skpunzi._metrics import punzi_fom

    decision = _scores(sample, rng, 3.0) - 1.5
    display = OutputDistributionDisplay.from_predictions(
        sample.y,
        decision,
        variable=sample.mass2,
        sample_weight=sample.weight,
        groups=sample.groups,
        bins=(12, 8),
        variable_label="$M_{rec}^2$",
        name="net",
    )

    assert len(display.axes_) == 2
    assert all(isinstance(mesh, QuadMesh) for mesh in display.meshes_)
    assert all(isinstance(mesh.norm, LogNorm) for mesh in display.meshes_)
    assert display.meshes_[0].get_array().shape == (8, 12)
    # Colours are sums of weights: signal sums to one per window.
    assert display.meshes_[0].get_array().sum() == pytest.approx(N_HYPOTHESES)
    assert display.meshes_[1].get_array().sum() == pytest.approx(300 * 0.05)
    assert [ax.get_title() for ax in display.axes_] == [
        "net: signal",
        "net: background",
    ]
    assert display.axes_[0].get_ylabel() == "$M_{rec}^2$"
    assert "before the sigmoid" in display.axes_[1].get_xlabel()
    assert all(colorbar is not None for colorbar in display.colorbars_)

    # Best cuts: punzi_fom's, drawn at the window centres, bottom to top.
    _, cuts = punzi_fom(
        sample.y,
        decision,
        sample_weight=sample.weight,
        groups=sample.groups,
        threshold="per_hypothesis",
        return_thresholds=True,
    )
    for line in display.best_cut_lines_:
        np.testing.assert_allclose(line.get_xdata(), cuts)
        assert np.all(np.diff(line.get_ydata()) > 0)
        assert line.get_marker() == "o"
    for line in display.fixed_cut_lines_:
        np.testing.assert_allclose(line.get_xdata(), [0.0, 0.0])
    assert _legend_texts(display.axes_[0].get_legend()) == [
        "best cut per hypothesis",
        "fixed cut (0)",
    ]


def test_output_display_cuts_given_on_either_scale(sample, rng):
    decision = _scores(sample, rng, 3.0)
    common = dict(variable=sample.mass2, groups=sample.groups, bins=5)
    given = np.array([0.2, 0.5, 0.8, 0.9])

    on_proba = OutputDistributionDisplay.from_predictions(
        sample.y,
        decision,
        best_cuts=given,
        fixed_cut=0.9,
        hypothesis_values=[35.0, 5.0, 15.0, 25.0],
        **common,
    )
    np.testing.assert_allclose(on_proba.best_cuts, logit(given))
    np.testing.assert_allclose(on_proba.fixed_cut, logit(0.9))
    # Drawn in order of position on the y axis.
    np.testing.assert_allclose(
        on_proba.best_cut_lines_[0].get_ydata(), [5.0, 15.0, 25.0, 35.0]
    )

    on_decision = OutputDistributionDisplay.from_predictions(
        sample.y,
        decision,
        best_cuts=given,
        fixed_cut=1.5,
        cut_scale="decision",
        **common,
    )
    np.testing.assert_allclose(on_decision.best_cuts, given)
    assert on_decision.fixed_cut == 1.5


def test_output_display_without_cuts(sample, rng):
    display = OutputDistributionDisplay.from_predictions(
        sample.y,
        _scores(sample, rng, 3.0),
        variable=sample.mass2,
        best_cuts=False,
        fixed_cut=None,
        bins=5,
    )
    assert display.best_cut_lines_ == [None, None]
    assert display.fixed_cut_lines_ == [None, None]
    assert display.axes_[0].get_legend() is None
    # Without sample_weight the colours count events.
    assert display.meshes_[1].get_array().sum() == 300
    assert display.colorbars_[0].ax.get_ylabel() == "events"


@pytest.mark.parametrize(
    "model", [HistGradientBoostingClassifier(max_iter=5), GaussianNB()]
)
def test_output_display_from_estimator(sample, model):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(sample.X[:, :2], columns=["x0", "x1"]).assign(m2=sample.mass2)
    model.fit(X[["x0", "x1"]], sample.y)
    display = OutputDistributionDisplay.from_estimator(
        model,
        X[["x0", "x1", "m2"]].drop(columns="m2"),
        sample.y,
        variable=X["m2"],
        groups=sample.groups,
        bins=6,
    )

    # decision_function where there is one, else the logit of predict_proba.
    if hasattr(model, "decision_function"):
        expected = model.decision_function(X[["x0", "x1"]])
    else:
        expected = logit(model.predict_proba(X[["x0", "x1"]])[:, 1])
    np.testing.assert_allclose(display.decision, expected)
    assert display.axes_[0].get_title() == f"{type(model).__name__}: signal"
    assert display.axes_[0].get_ylabel() == "variable"
    assert display.fixed_cut == 0.0


def test_output_display_variable_by_column_name(sample):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(sample.X, columns=["x0", "x1", "mrec2"])
    model = LogisticRegression().fit(X, sample.y)
    display = OutputDistributionDisplay.from_estimator(
        model, X, sample.y, variable="mrec2", best_cuts=False, bins=4
    )
    np.testing.assert_allclose(display.variable, sample.mass2)
    assert display.axes_[1].get_ylabel() == "mrec2"

    with pytest.raises(ValueError, match="names no column of X"):
        OutputDistributionDisplay.from_estimator(
            model, X, sample.y, variable="mass", best_cuts=False
        )


def test_output_display_draws_on_given_axes(sample, rng):
    _, axes = plt.subplots(2, 1)
    display = OutputDistributionDisplay.from_predictions(
        sample.y,
        _scores(sample, rng, 3.0),
        variable=sample.mass2,
        ax=axes,
        best_cuts=False,
        bins=4,
    )
    assert list(display.axes_) == list(axes)

    _, single = plt.subplots()
    with pytest.raises(ValueError, match="ax must hold two Axes"):
        OutputDistributionDisplay.from_predictions(
            sample.y,
            _scores(sample, rng, 3.0),
            variable=sample.mass2,
            ax=single,
            best_cuts=False,
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fixed_cut": 1.5}, r"Probability cuts must lie in \[0, 1\]"),
        ({"cut_scale": "logit"}, "cut_scale must be 'probability' or"),
        ({"best_cuts": [0.5, 0.5]}, "one cut per hypothesis"),
        ({"hypothesis_values": [1.0]}, "hypothesis_values must hold one value"),
        ({"variable": np.zeros(5)}, "variable must be a 1-D array"),
    ],
)
def test_output_display_errors(sample, rng, kwargs, match):
    arguments = {"variable": sample.mass2, "groups": sample.groups, **kwargs}
    with pytest.raises(ValueError, match=match):
        OutputDistributionDisplay.from_predictions(
            sample.y, _scores(sample, rng, 3.0), **arguments
        )


def test_output_display_needs_both_classes():
    with pytest.raises(ValueError, match="both signal"):
        OutputDistributionDisplay(
            decision=np.zeros(4), variable=np.zeros(4), y_true=np.ones(4)
        ).plot()


# --------------------------------------------------------------------------
# TrainingHistoryDisplay
# --------------------------------------------------------------------------


def _history(pretrain_rates=(1e-2, 1e-2, 1e-2), punzi_rates=(1e-3,) * 5):
    history = [
        {
            "phase": "pretrain",
            "epoch": e,
            "loss": 0.7 / e,
            "validation_loss": float("nan"),
            "learning_rate": rate,
        }
        for e, rate in enumerate(pretrain_rates, start=1)
    ]
    history += [
        {
            "phase": "punzi",
            "epoch": e,
            "loss": 40.0 - e,
            "validation_loss": 42.0 - e,
            "learning_rate": rate,
        }
        for e, rate in enumerate(punzi_rates, start=1)
    ]
    return history


def test_history_display_two_phases_with_reductions():
    history = _history(punzi_rates=(1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 2e-4))
    display = TrainingHistoryDisplay.from_history(history)

    assert len(display.axes_) == 2
    assert [ax.get_title() for ax in display.axes_] == [
        "BCE pretraining",
        "Punzi fine-tuning",
    ]
    np.testing.assert_array_equal(
        display.loss_lines_["pretrain"].get_xdata(), [1, 2, 3]
    )
    np.testing.assert_allclose(
        display.loss_lines_["punzi"].get_ydata(), [39, 38, 37, 36, 35, 34]
    )

    # Validation loss only where recorded, dashed, in the colour of its loss.
    assert display.validation_lines_["pretrain"] is None
    validation = display.validation_lines_["punzi"]
    assert validation.get_linestyle() == "--"
    assert validation.get_color() == display.loss_lines_["punzi"].get_color()

    # Two reductions (epochs 3 and 5); the increase at epoch 6 is not one.
    assert display.lr_reduction_lines_["pretrain"] == []
    reductions = display.lr_reduction_lines_["punzi"]
    assert [line.get_xdata()[0] for line in reductions] == [3, 5]
    assert _legend_texts(display.axes_[1].get_legend()) == [
        "training",
        "validation",
        "learning rate reduced",
    ]
    assert _legend_texts(display.axes_[0].get_legend()) == ["training"]
    assert display.axes_[0].get_xlabel() == "epoch"
    assert "BCE" in display.axes_[0].get_ylabel()
    assert "Punzi" in display.axes_[1].get_ylabel()


def test_history_display_single_phase_and_given_axes():
    history = [r for r in _history() if r["phase"] == "punzi"]
    _, ax = plt.subplots()
    display = TrainingHistoryDisplay.from_history(history, ax=ax, color="tab:red")

    assert list(display.axes_) == [ax]
    assert list(display.loss_lines_) == ["punzi"]
    assert display.loss_lines_["punzi"].get_color() == "tab:red"


def test_history_display_from_estimator():
    fitted = SimpleNamespace(history_=_history())
    display = TrainingHistoryDisplay.from_estimator(fitted)
    assert set(display.loss_lines_) == {"pretrain", "punzi"}

    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(LogisticRegression())


@pytest.mark.parametrize(
    "history, match",
    [
        ([], "non-empty list"),
        ({"loss": [1.0]}, "non-empty list"),
        ([{"phase": "punzi", "epoch": 1, "loss": 1.0}], r"history\[0\] lacks"),
        (
            [
                {
                    "phase": "finetune",
                    "epoch": 1,
                    "loss": 1.0,
                    "validation_loss": 1.0,
                    "learning_rate": 0.1,
                }
            ],
            r"history\[0\]\['phase'\] must be one of",
        ),
    ],
)
def test_history_display_errors(history, match):
    with pytest.raises(ValueError, match=match):
        TrainingHistoryDisplay.from_history(history)


def test_history_display_wrong_number_of_axes():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one Axes per training phase"):
        TrainingHistoryDisplay(history=_history()).plot(ax=ax)


def test_displays_of_a_fitted_punzi_classifier(sample):
    # The real estimator: its history_ and decision_function feed the displays.
    from skpunzi import PunziClassifier

    X = sample.X[:, :2]
    model = PunziClassifier(pretrain_epochs=2, max_epochs=3, random_state=0)
    model.fit(X, sample.y, sample_weight=sample.weight, groups=sample.groups)

    history = TrainingHistoryDisplay.from_estimator(model)
    assert len(history.loss_lines_["pretrain"].get_xdata()) == 2
    np.testing.assert_array_equal(history.loss_lines_["punzi"].get_xdata(), [1, 2, 3])

    output = OutputDistributionDisplay.from_estimator(
        model, X, sample.y, variable=sample.mass2, groups=sample.groups, bins=5
    )
    np.testing.assert_allclose(output.decision, model.decision_function(X))


def test_missing_matplotlib_names_the_caller(monkeypatch):
    # A None entry in sys.modules makes ``import matplotlib`` fail.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"TrainingHistoryDisplay.plot requires"):
        TrainingHistoryDisplay(history=_history()).plot()
