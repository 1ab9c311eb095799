"""Tests for the Punzi scorer, ``make_punzi_scorer`` and ``punzi_score``."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.metrics._scorer import _BaseScorer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skpunzi import make_punzi_scorer, punzi_fom, punzi_score
from skpunzi._groups import check_groups

N_SAMPLES = 120
ROUTING_FIX = r"sklearn\.set_config\(enable_metadata_routing=True\)"


@pytest.fixture
def routing():
    """Metadata routing enabled for the test."""
    with sklearn.config_context(enable_metadata_routing=True):
        yield


# Every event carries its id in column 0 of X, so that an estimator (and the
# scorer, through the id-encoding scores) can check that the metadata it
# receives belongs to its own rows.
def labels_of(ids):
    return np.asarray(ids, dtype=int) % 4


def indicator_of(ids):
    ids = np.asarray(ids, dtype=int)
    columns = [ids % 2 == 0, ids % 3 == 0, ids % 5 < 2]
    return np.column_stack(columns).astype(np.int8)


def weight_of(ids):
    return 1.0 + np.asarray(ids, dtype=float) / N_SAMPLES


def groups_of(ids, kind):
    if kind == "labels":
        return labels_of(ids)
    if kind == "dense":
        return indicator_of(ids)
    return sp.csr_matrix(indicator_of(ids))


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(N_SAMPLES)
    y = (rng.random(N_SAMPLES) < 0.4).astype(int)
    feature = y + rng.normal(scale=0.8, size=N_SAMPLES)
    X = np.column_stack([ids, feature])
    return X, y, ids


def assert_metadata_of_rows(ids, sample_weight, groups, kind):
    if sample_weight is not None:
        np.testing.assert_allclose(sample_weight, weight_of(ids))
    expected = check_groups(groups_of(ids, kind), len(ids)).to_sparse()
    received = check_groups(groups, len(ids)).to_sparse()
    assert (received != expected).nnz == 0


class RowCheckingClassifier(ClassifierMixin, BaseEstimator):
    """Checks its metadata rows in fit; predict_proba encodes the event ids.

    Like PunziClassifier it requests ``sample_weight`` and ``groups`` in fit
    by default and records ``n_hypotheses_``.
    """

    __metadata_request__fit = {"sample_weight": True, "groups": True}

    def __init__(self, kind="dense", C=1.0):
        self.kind = kind
        self.C = C

    def fit(self, X, y, sample_weight=None, groups=None):
        self.fit_saw_groups_ = groups is not None
        if groups is not None:
            assert_metadata_of_rows(X[:, 0], sample_weight, groups, self.kind)
        self.n_hypotheses_ = check_groups(groups, X.shape[0]).n_hypotheses
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def predict_proba(self, X):
        # The id, recoverable from the score: (id + 0.5) / N_SAMPLES.
        signal = (X[:, 0] + 0.5) / N_SAMPLES
        return np.column_stack([1 - signal, signal])


def row_checking_scorer(kind, calls):
    """A Punzi scorer that asserts its metadata belongs to the scored rows."""
    scorer = make_punzi_scorer()
    score_func = scorer._score_func

    def checked(y_true, y_score, *, sample_weight=None, groups=None, **kwargs):
        ids = np.floor(y_score * N_SAMPLES).astype(int)
        assert groups is not None and sample_weight is not None
        assert_metadata_of_rows(ids, sample_weight, groups, kind)
        calls.append(len(ids))
        return score_func(
            y_true, y_score, sample_weight=sample_weight, groups=groups, **kwargs
        )

    scorer._score_func = checked
    return scorer


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_grid_search_routes_each_fold_its_own_rows(routing, kind):
    X, y, ids = make_data()
    calls = []
    search = GridSearchCV(
        RowCheckingClassifier(kind=kind),
        {"C": [1.0, 2.0]},
        scoring=row_checking_scorer(kind, calls),
        cv=KFold(3, shuffle=True, random_state=0),
    )

    search.fit(X, y, sample_weight=weight_of(ids), groups=groups_of(ids, kind))

    assert calls == [N_SAMPLES // 3] * 6
    assert search.best_estimator_.n_hypotheses_ == 3
    assert np.isfinite(search.best_score_) and search.best_score_ > 0


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_cross_validate_with_params_and_roc_auc(routing, kind):
    X, y, ids = make_data()
    calls = []
    scoring = {
        "punzi": row_checking_scorer(kind, calls),
        "roc_auc": get_scorer("roc_auc").set_score_request(sample_weight=True),
    }

    result = cross_validate(
        RowCheckingClassifier(kind=kind),
        X,
        y,
        scoring=scoring,
        cv=KFold(4, shuffle=True, random_state=0),
        params={"sample_weight": weight_of(ids), "groups": groups_of(ids, kind)},
    )

    assert len(calls) == 4
    assert np.all(result["test_punzi"] > 0)
    assert np.all((result["test_roc_auc"] >= 0) & (result["test_roc_auc"] <= 1))


def test_cross_val_score_matches_a_manual_loop(routing):
    X, y, ids = make_data()
    groups, weight = indicator_of(ids), weight_of(ids)
    features = X[:, 1:]
    cv = KFold(3, shuffle=True, random_state=1)
    scorer = make_punzi_scorer(threshold=0.4)
    model = LogisticRegression().set_fit_request(sample_weight=True)

    scores = cross_val_score(
        model,
        features,
        y,
        scoring=scorer,
        cv=cv,
        params={"sample_weight": weight, "groups": groups},
    )

    expected = []
    for train, test in cv.split(features):
        fitted = LogisticRegression().fit(
            features[train], y[train], sample_weight=weight[train]
        )
        expected.append(
            scorer(
                fitted,
                features[test],
                y[test],
                sample_weight=weight[test],
                groups=groups[test],
            )
        )
    np.testing.assert_allclose(scores, expected)


def test_scores_hist_gradient_boosting(routing):
    X, y, ids = make_data()
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    model.set_fit_request(sample_weight=True)

    scores = cross_val_score(
        model,
        X[:, 1:],
        y,
        scoring=make_punzi_scorer(),
        cv=KFold(2),
        params={"sample_weight": weight_of(ids), "groups": indicator_of(ids)},
    )

    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert scores.max() > 0


def test_group_k_fold_skips_absent_hypotheses_silently(routing):
    X, y, ids = make_data()
    labels = labels_of(ids)
    calls = []

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search = GridSearchCV(
            RowCheckingClassifier(kind="labels"),
            {"C": [1.0]},
            scoring=row_checking_scorer("labels", calls),
            cv=GroupKFold(4),
        ).fit(X, y, sample_weight=weight_of(ids), groups=labels)

    # Each test fold holds one hypothesis: the fold's score is its FOM.
    assert len(calls) == 4
    folds = GroupKFold(4).split(X, y, labels)
    for fold, (_, test) in enumerate(folds):
        assert np.unique(labels[test]).size == 1
        expected = punzi_fom(
            y[test],
            (X[test, 0] + 0.5) / N_SAMPLES,
            sample_weight=weight_of(ids[test]),
        )
        score = search.cv_results_[f"split{fold}_test_score"][0]
        assert score == pytest.approx(expected[0])


def test_alias_for_groups(routing):
    X, y, ids = make_data()
    calls = []
    scorer = row_checking_scorer("dense", calls).set_score_request(groups="windows")

    cross_validate(
        RowCheckingClassifier(kind="dense"),
        X,
        y,
        scoring=scorer,
        cv=KFold(3),
        params={"sample_weight": weight_of(ids), "windows": indicator_of(ids)},
    )

    assert len(calls) == 3
    assert "groups='windows'" in repr(scorer)


def test_warns_when_routing_is_disabled():
    X, y, ids = make_data()
    search = GridSearchCV(
        LogisticRegression(),
        {"C": [1.0]},
        scoring=make_punzi_scorer(),
        cv=GroupKFold(2),
    )

    with pytest.warns(UserWarning, match=ROUTING_FIX):
        search.fit(X[:, 1:], y, groups=labels_of(ids))


def test_direct_call_with_groups_needs_no_routing():
    X, y, ids = make_data()
    model = LogisticRegression().fit(X[:, 1:], y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = punzi_score(
            model, X[:, 1:], y, sample_weight=weight_of(ids), groups=labels_of(ids)
        )

    expected = punzi_fom(
        y,
        model.predict_proba(X[:, 1:])[:, 1],
        sample_weight=weight_of(ids),
        groups=labels_of(ids),
    )
    assert score == pytest.approx(expected.mean())


@pytest.mark.parametrize(
    "wrap",
    [
        lambda model: model,
        lambda model: make_pipeline(FunctionTransformer(), model),
        lambda model: GridSearchCV(model, {"C": [1.0]}, cv=2),
    ],
)
def test_warns_when_model_was_fitted_on_several_hypotheses(routing, wrap):
    X, y, ids = make_data()
    model = wrap(RowCheckingClassifier(kind="dense"))
    model.fit(X, y, groups=indicator_of(ids))

    with pytest.warns(UserWarning, match="fitted on 3.*" + ROUTING_FIX):
        make_punzi_scorer()(model, X, y)


def test_no_warning_for_one_hypothesis_with_routing(routing):
    X, y, _ = make_data()
    model = RowCheckingClassifier().fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_punzi_scorer()(model, X, y)


@pytest.mark.parametrize("enabled", [False, True])
def test_opting_out_of_groups_silences_the_warning(enabled):
    X, y, ids = make_data()
    with sklearn.config_context(enable_metadata_routing=True):
        model = RowCheckingClassifier().fit(X, y, groups=indicator_of(ids))
    scorer = make_punzi_scorer().set_score_request(groups=False)

    with sklearn.config_context(enable_metadata_routing=enabled):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            scorer(model, X, y)


def test_requests_do_not_leak_between_scorers():
    first = make_punzi_scorer().set_score_request(groups=False, sample_weight=False)
    second = make_punzi_scorer()

    expected = {"sample_weight": True, "groups": True}
    assert second.get_metadata_routing().score.requests == expected
    assert punzi_score.get_metadata_routing().score.requests == expected
    assert first.get_metadata_routing().score.requests == {
        "sample_weight": False,
        "groups": False,
    }


def test_pickle_round_trip():
    X, y, ids = make_data()
    model = LogisticRegression().fit(X[:, 1:], y)
    scorer = make_punzi_scorer(a=5.0, threshold="optimal")
    scorer.set_score_request(groups="windows")

    restored = pickle.loads(pickle.dumps(scorer))

    assert repr(restored) == repr(scorer)
    assert restored.get_metadata_routing().score.requests["groups"] == "windows"
    arguments = (model, X[:, 1:], y)
    metadata = {"sample_weight": weight_of(ids), "groups": indicator_of(ids)}
    assert restored(*arguments, **metadata) == scorer(*arguments, **metadata)


def test_is_a_scikit_learn_scorer_with_informative_repr():
    scorer = make_punzi_scorer(b=1.64, threshold="per_hypothesis")

    assert isinstance(scorer, _BaseScorer)
    assert scorer is not make_punzi_scorer()
    assert repr(scorer) == (
        "make_punzi_scorer(a=3.0, b=1.64, luminosity=1.0, "
        "threshold='per_hypothesis', formula='paper')"
    )


@pytest.mark.parametrize("threshold", [0.3, "optimal", "per_hypothesis"])
def test_score_is_mean_fom_of_class_one_over_hypotheses_with_signal(threshold):
    X, y, ids = make_data()
    y_named = np.where(y == 1, "signal", "background")
    labels = labels_of(ids)
    labels[(labels == 3) & (y == 1)] = 2  # hypothesis 3 has no signal
    model = LogisticRegression().fit(X[:, 1:], y_named)

    score = make_punzi_scorer(threshold=threshold)(
        model, X[:, 1:], y_named, groups=labels
    )

    with pytest.warns(UserWarning, match=r"hypotheses \[3\]"):
        fom = punzi_fom(
            y,
            model.predict_proba(X[:, 1:])[:, 1],
            groups=labels,
            threshold=threshold,
        )
    assert score == pytest.approx(fom[:3].mean())


def test_no_signal_scores_zero_with_a_warning():
    X, y, _ = make_data()
    model = LogisticRegression().fit(X[:, 1:], y)
    background = y == 0

    scorer = make_punzi_scorer().set_score_request(groups=False)

    with pytest.warns(UserWarning, match="No hypothesis has signal"):
        score = scorer(model, X[background, 1:], y[background])

    assert score == 0.0


def test_multiclass_estimator_is_rejected():
    X, y, _ = make_data()
    model = LogisticRegression().fit(X[:, 1:], np.arange(N_SAMPLES) % 3)

    with pytest.raises(ValueError, match="needs a fitted binary classifier"):
        make_punzi_scorer().set_score_request(groups=False)(model, X[:, 1:], y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"a": -1}, "a must be a finite number >= 0"),
        ({"threshold": "best"}, "threshold must be a number, an array"),
        ({"formula": "other"}, "formula must be one of"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_punzi_scorer(**kwargs)


def test_invalid_request_alias():
    with pytest.raises(ValueError, match="groups must be True, False, None or an"):
        make_punzi_scorer().set_score_request(groups=3)
