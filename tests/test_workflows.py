"""scikit-learn workflows run end to end with the real ``PunziClassifier``.

Model selection, pipelines, multi-metric scoring, metadata aliases and
persistence, each on a few hundred generated events with a few epochs of
training. The tests check what the estimator and the scorer receive in each
fold, not how well the network learns.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import collections
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import get_scorer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skpunzi
from skpunzi import PunziClassifier, make_punzi_scorer, mass_windows, punzi_fom
from skpunzi._groups import check_groups
from skpunzi._scorer import _PunziScorer

N_SAMPLES = 400
MASSES = np.array([1.0, 1.5, 2.0, 2.5])
# Windows of half-width 2 * 0.5 in the recoil mass squared: neighbours overlap.
WIDTHS = np.full(MASSES.shape, 0.5)
FAST = {"pretrain_epochs": 3, "max_epochs": 3, "random_state": 0}
GRID = {"a": [2.0, 3.0], "b": [1.0, 1.28]}
KINDS = ["labels", "dense", "sparse"]
PANDAS_KINDS = ["series", "frame"]


def make_events(seed=0):
    """Signal at four masses over a flat background, in four features.

    Every event's weight is unique, ``1 + id / N_SAMPLES``, so whoever
    receives a slice of the weights can tell which rows it got.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(N_SAMPLES) < 0.4).astype(int)
    generated = np.where(y == 1, rng.integers(0, MASSES.size, N_SAMPLES), -1)
    m2 = np.where(
        y == 1,
        MASSES[generated] ** 2 + rng.normal(scale=0.3, size=N_SAMPLES),
        rng.uniform(0.0, 7.5, N_SAMPLES),
    )

    # Features of different scales, so that a StandardScaler matters.
    shift = np.array([0.8, 0.5, -0.5, 0.3])
    X = rng.normal(size=(N_SAMPLES, 4)) + y[:, None] * shift
    X *= np.array([50.0, 1.0, 1.0, 10.0])

    indicator = mass_windows(m2, MASSES, WIDTHS, generated_hypothesis=generated)
    dense = indicator.toarray()
    # 1-D labels: the first window an event lies in, -1 for none.
    labels = np.where(dense.any(axis=1), dense.argmax(axis=1), -1)
    # pandas versions, on an index that is not the positions, as a column of
    # an analysis DataFrame would be.
    index = 3 * np.arange(N_SAMPLES)[::-1]
    groups = {
        "labels": labels,
        "dense": dense,
        "sparse": indicator,
        "series": pd.Series(labels, index=index, name="window"),
        "frame": pd.DataFrame(dense, index=index),
    }
    weight = 1.0 + np.arange(N_SAMPLES) / N_SAMPLES
    return X, y, weight, groups


X, Y, WEIGHT, GROUPS = make_events()


def ids_of(sample_weight):
    """The event ids a slice of ``WEIGHT`` belongs to."""
    return np.rint((np.asarray(sample_weight) - 1.0) * N_SAMPLES).astype(int)


def rows_of(values, ids):
    """Rows ``ids`` by position, of an array, sparse matrix or pandas object."""
    return values.iloc[ids] if hasattr(values, "iloc") else values[ids]


def assert_groups_of_rows(groups, ids, kind):
    """``groups`` holds exactly the rows ``ids`` of ``GROUPS[kind]``."""
    expected = rows_of(GROUPS[kind], ids)
    if kind == "sparse":
        assert sp.issparse(groups)
        assert groups.shape == expected.shape and (groups != expected).nnz == 0
    else:
        np.testing.assert_array_equal(np.asarray(groups), np.asarray(expected))


def mean_fom(y, y_score, sample_weight, groups, **constants):
    """Mean FOM over the hypotheses with signal, computed independently."""
    windows = check_groups(groups, y.shape[0]).to_sparse()
    has_signal = np.ravel(windows[y == 1].sum(axis=0)) > 0
    fom = punzi_fom(
        y,
        y_score,
        sample_weight=sample_weight,
        groups=windows[:, has_signal],
        **constants,
    )
    return fom.mean()


FitRecord = collections.namedtuple("FitRecord", "a b ids groups n_group_rows")
ScoreRecord = collections.namedtuple("ScoreRecord", "a b ids groups y y_score score")
FIT_LOG = []


class RecordingClassifier(PunziClassifier):
    """A PunziClassifier that logs the metadata of every fit in ``FIT_LOG``."""

    def fit(self, X, y, sample_weight=None, groups=None):
        n_rows = None if groups is None else groups.shape[0]
        ids = None if sample_weight is None else ids_of(sample_weight)
        FIT_LOG.append(FitRecord(self.a, self.b, ids, groups, n_rows))
        return super().fit(X, y, sample_weight=sample_weight, groups=groups)


class RecordingScorer(_PunziScorer):
    """The Punzi scorer, logging each call's estimator, rows and score."""

    def __init__(self, log, *, a=3.0, b=1.28, threshold=0.5):
        super().__init__(a=a, b=b, luminosity=1.0, threshold=threshold, formula="paper")
        self.log = log

    def _score(self, method_caller, estimator, X, y_true, **metadata):
        score = super()._score(method_caller, estimator, X, y_true, **metadata)
        classifier = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        weight = metadata.get("sample_weight")
        self.log.append(
            ScoreRecord(
                a=getattr(classifier, "a", None),
                b=getattr(classifier, "b", None),
                ids=None if weight is None else ids_of(weight),
                groups=metadata.get("groups"),
                y=np.asarray(y_true),
                y_score=estimator.predict_proba(X)[:, 1],
                score=score,
            )
        )
        return score


@pytest.fixture
def fit_log():
    """``FIT_LOG``, emptied before and after the test."""
    FIT_LOG.clear()
    yield FIT_LOG
    FIT_LOG.clear()


@pytest.fixture(autouse=True)
def one_thread():
    """One OpenMP thread for torch and scikit-learn in every test.

    On a few hundred events the threads of torch only wait for each other;
    on a busy two-core machine a fit took 0.56 s with two threads and
    0.03 s with one.
    """
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def routing():
    """Metadata routing enabled for the test."""
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def fold_of(ids, folds, part):
    """Index of the fold whose train (part 0) or test (part 1) rows are ids."""
    matches = [
        index for index, split in enumerate(folds) if np.array_equal(ids, split[part])
    ]
    assert len(matches) == 1, "the rows received are not those of one fold"
    return matches[0]


@pytest.mark.parametrize("kind", KINDS)
def test_grid_search_fits_each_candidate_and_scores_with_fixed_constants(
    routing, fit_log, kind
):
    score_log = []
    search = GridSearchCV(
        RecordingClassifier(**FAST),
        GRID,
        scoring=RecordingScorer(score_log, a=3.0, b=1.28),
        cv=2,
    )

    search.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS[kind])

    # cv=2 on a classifier means StratifiedKFold(2) without shuffling.
    folds = list(StratifiedKFold(2).split(X, Y))
    candidates = {(a, b) for a in GRID["a"] for b in GRID["b"]}

    # Each candidate is trained once per fold, with its own constants, on
    # that fold's training rows of the weights and the windows.
    *cv_fits, refit = fit_log
    trained = collections.Counter()
    for record in cv_fits:
        assert record.n_group_rows == record.ids.size
        assert_groups_of_rows(record.groups, record.ids, kind)
        trained[record.a, record.b, fold_of(record.ids, folds, 0)] += 1
    assert trained == {(a, b, fold): 1 for a, b in candidates for fold in (0, 1)}

    # The refit sees every event, with the best candidate's constants.
    np.testing.assert_array_equal(refit.ids, np.arange(N_SAMPLES))
    assert_groups_of_rows(refit.groups, refit.ids, kind)
    assert (refit.a, refit.b) == (search.best_params_["a"], search.best_params_["b"])
    assert search.best_estimator_.n_hypotheses_ == MASSES.size

    # Each fold is scored on its test rows with a=3, b=1.28, whatever the
    # candidate was trained with.
    assert len(score_log) == len(cv_fits)
    for record in score_log:
        fold = fold_of(record.ids, folds, 1)
        assert_groups_of_rows(record.groups, record.ids, kind)
        weight = WEIGHT[record.ids]
        fixed = mean_fom(record.y, record.y_score, weight, record.groups)
        assert record.score == pytest.approx(fixed)
        if (record.a, record.b) != (3.0, 1.28):
            own = mean_fom(
                record.y, record.y_score, weight, record.groups, a=record.a, b=record.b
            )
            assert record.score != pytest.approx(own)
        candidate = search.cv_results_["params"].index({"a": record.a, "b": record.b})
        reported = search.cv_results_[f"split{fold}_test_score"][candidate]
        assert reported == record.score


@pytest.mark.parametrize("kind", KINDS + PANDAS_KINDS)
def test_cross_validate_fits_and_scores_each_fold_on_its_rows(routing, kind):
    # Columns of an analysis DataFrame for the pandas kinds.
    weight = WEIGHT
    if kind in PANDAS_KINDS:
        weight = pd.Series(WEIGHT, index=GROUPS[kind].index, name="weight")
    score_log = []
    result = cross_validate(
        PunziClassifier(**FAST),
        X,
        Y,
        scoring=RecordingScorer(score_log),
        cv=3,
        params={"sample_weight": weight, "groups": GROUPS[kind]},
        return_estimator=True,
        return_indices=True,
    )

    splits = zip(result["indices"]["train"], result["indices"]["test"], strict=True)
    for fold, (train, test) in enumerate(splits):
        # Refitting on the fold's rows reproduces the fold's model exactly,
        # so it was trained on those rows of the weights and windows.
        fitted = result["estimator"][fold]
        manual = PunziClassifier(**FAST).fit(
            X[train],
            Y[train],
            sample_weight=WEIGHT[train],
            groups=rows_of(GROUPS[kind], train),
        )
        np.testing.assert_array_equal(
            fitted.predict_proba(X[test]), manual.predict_proba(X[test])
        )
        assert fitted.n_hypotheses_ == MASSES.size

        # The scorer got the fold's test rows of the weights and windows.
        record = score_log[fold]
        np.testing.assert_array_equal(record.ids, test)
        assert_groups_of_rows(record.groups, test, kind)
        expected = mean_fom(
            Y[test], record.y_score, WEIGHT[test], rows_of(GROUPS[kind], test)
        )
        assert result["test_score"][fold] == pytest.approx(expected)


def test_cross_val_score_matches_a_manual_loop(routing):
    groups = GROUPS["dense"]
    scorer = make_punzi_scorer(threshold="optimal")

    scores = cross_val_score(
        PunziClassifier(**FAST),
        X,
        Y,
        scoring=scorer,
        cv=3,
        params={"sample_weight": WEIGHT, "groups": groups},
    )

    expected = []
    for train, test in StratifiedKFold(3).split(X, Y):
        fitted = PunziClassifier(**FAST).fit(
            X[train], Y[train], sample_weight=WEIGHT[train], groups=groups[train]
        )
        metadata = {"sample_weight": WEIGHT[test], "groups": groups[test]}
        expected.append(scorer(fitted, X[test], Y[test], **metadata))
    np.testing.assert_allclose(scores, expected)
    assert np.all(scores > 0)


def test_column_transformer_pipeline_on_a_data_frame(routing, fit_log):
    frame = pd.DataFrame(X, columns=["pt", "eta", "phi", "n_tracks"])
    # The scaler must say whether it wants the weights once they are routed.
    scaler = StandardScaler().set_fit_request(sample_weight=False)
    columns = ColumnTransformer(
        [
            ("scaled", scaler, ["pt", "n_tracks"]),
            ("kept", "passthrough", ["eta", "phi"]),
        ]
    ).set_output(transform="pandas")
    model = Pipeline(
        [("columns", columns), ("punziclassifier", RecordingClassifier(**FAST))]
    )
    score_log = []

    search = GridSearchCV(
        model,
        {"punziclassifier__a": [2.0, 3.0]},
        scoring=RecordingScorer(score_log),
        cv=2,
    ).fit(frame, Y, sample_weight=WEIGHT, groups=GROUPS["sparse"])

    # The classifier inside the pipeline gets each fold's weights and windows.
    folds = list(StratifiedKFold(2).split(X, Y))
    *cv_fits, refit = fit_log
    trained = collections.Counter()
    for record in cv_fits:
        assert_groups_of_rows(record.groups, record.ids, "sparse")
        trained[record.a, fold_of(record.ids, folds, 0)] += 1
    assert trained == {(a, fold): 1 for a in (2.0, 3.0) for fold in (0, 1)}
    for record in score_log:
        assert_groups_of_rows(record.groups, record.ids, "sparse")
        fold_of(record.ids, folds, 1)

    # The refitted pipeline: all events, the best a, the transformed names.
    best = search.best_estimator_
    np.testing.assert_array_equal(refit.ids, np.arange(N_SAMPLES))
    assert best[-1].a == search.best_params_["punziclassifier__a"]
    assert best[-1].n_hypotheses_ == MASSES.size
    np.testing.assert_array_equal(
        best[-1].feature_names_in_,
        ["scaled__pt", "scaled__n_tracks", "kept__eta", "kept__phi"],
    )
    assert best.predict_proba(frame.iloc[:5]).shape == (5, 2)


def test_make_pipeline_in_grid_search_matches_the_steps_fitted_by_hand(routing):
    groups = GROUPS["dense"]
    model = make_pipeline(
        StandardScaler().set_fit_request(sample_weight=False), PunziClassifier(**FAST)
    )

    search = GridSearchCV(
        model, {"punziclassifier__a": [2.0, 3.0]}, scoring=make_punzi_scorer(), cv=2
    ).fit(X, Y, sample_weight=WEIGHT, groups=groups)

    # The refitted classifier equals one fitted by hand on the scaled
    # features with the same weights and windows, and differs from one
    # fitted without the weights: the routed metadata reached it.
    best = search.best_estimator_[-1]
    assert best.n_hypotheses_ == MASSES.size
    scaled = StandardScaler().fit_transform(X)
    by_hand = PunziClassifier(**FAST, a=best.a)
    by_hand.fit(scaled, Y, sample_weight=WEIGHT, groups=groups)
    expected = by_hand.predict_proba(scaled)
    np.testing.assert_array_equal(search.predict_proba(X), expected)
    unweighted = clone(by_hand).fit(scaled, Y, groups=groups)
    assert not np.array_equal(unweighted.predict_proba(scaled), expected)


def test_unset_request_of_a_weighted_step_names_the_fix(routing):
    model = make_pipeline(StandardScaler(), PunziClassifier(**FAST))

    with pytest.raises(UnsetMetadataPassedError, match="set_fit_request"):
        model.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["dense"])


def test_group_k_fold_validates_on_unseen_hypotheses(routing, fit_log):
    # Events in no window (label -1) would form a splitter group of their
    # own, a test fold without hypotheses: leave them out.
    labels = GROUPS["labels"]
    inside = labels >= 0
    score_log = []

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search = GridSearchCV(
            RecordingClassifier(**FAST),
            {"a": [3.0]},
            scoring=RecordingScorer(score_log),
            cv=GroupKFold(MASSES.size),
        ).fit(X[inside], Y[inside], sample_weight=WEIGHT[inside], groups=labels[inside])

    # Each test fold holds one hypothesis the model was not trained on; the
    # scorer skips the absent ones, so the score is that hypothesis' FOM.
    held_out = []
    for fit_record, score_record in zip(fit_log, score_log, strict=False):
        tested = np.unique(labels[score_record.ids])
        assert tested.size == 1
        assert tested[0] not in labels[fit_record.ids]
        held_out.append(tested[0])
        fom = punzi_fom(
            score_record.y,
            score_record.y_score,
            sample_weight=WEIGHT[score_record.ids],
        )
        assert score_record.score == pytest.approx(fom[0])
        assert score_record.score > 0
    assert len(score_log) == MASSES.size
    assert sorted(held_out) == list(range(MASSES.size))
    assert search.best_estimator_.n_hypotheses_ == MASSES.size


def test_group_k_fold_warns_for_a_fold_of_events_in_no_window(routing):
    # Left in, the events in no window are a splitter group of their own;
    # GroupKFold(5) makes them one test fold, which no hypothesis can score.
    search = GridSearchCV(
        PunziClassifier(**FAST),
        {"a": [3.0]},
        scoring=make_punzi_scorer(),
        cv=GroupKFold(MASSES.size + 1),
    )

    with pytest.warns(UserWarning, match="No hypothesis has signal") as record:
        search.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["labels"])

    assert len(record) == 1
    n_folds = MASSES.size + 1
    scores = [search.cv_results_[f"split{k}_test_score"][0] for k in range(n_folds)]
    assert sorted(scores)[0] == 0.0 and sorted(scores)[1] > 0


def test_scorer_dict_refits_on_the_punzi_score(routing):
    groups = GROUPS["sparse"]
    roc_auc = get_scorer("roc_auc").set_score_request(sample_weight=True)
    search = GridSearchCV(
        PunziClassifier(**FAST),
        {"b": [1.0, 1.28]},
        scoring={"punzi": make_punzi_scorer(), "roc_auc": roc_auc},
        refit="punzi",
        cv=2,
    )

    search.fit(X, Y, sample_weight=WEIGHT, groups=groups)

    results = search.cv_results_
    assert search.best_index_ == np.argmin(results["rank_test_punzi"])
    assert search.best_score_ == results["mean_test_punzi"][search.best_index_]
    # A few epochs leave the network barely trained: only check the range.
    roc_auc_scores = results["mean_test_roc_auc"]
    assert np.all((roc_auc_scores >= 0) & (roc_auc_scores <= 1))

    # The multi-metric scorer gives the same Punzi scores as the scorer alone.
    single = GridSearchCV(
        PunziClassifier(**FAST), {"b": [1.0, 1.28]}, scoring=make_punzi_scorer(), cv=2
    ).fit(X, Y, sample_weight=WEIGHT, groups=groups)
    for fold in range(2):
        np.testing.assert_allclose(
            results[f"split{fold}_test_punzi"],
            single.cv_results_[f"split{fold}_test_score"],
        )


def test_scorer_dict_with_a_plain_string_needs_its_weight_request(routing):
    # scikit-learn's "roc_auc" accepts sample_weight but does not request it
    # by default, so routed weights are an error that names the fix.
    search = GridSearchCV(
        PunziClassifier(**FAST),
        {"a": [3.0]},
        scoring={"punzi": make_punzi_scorer(), "roc_auc": "roc_auc"},
        refit="punzi",
        cv=2,
    )

    with pytest.raises(UnsetMetadataPassedError, match="set_score_request"):
        search.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["dense"])


def test_scorer_list_must_name_scorers_so_use_a_dict(routing):
    search = GridSearchCV(
        PunziClassifier(**FAST),
        {"a": [3.0]},
        scoring=[make_punzi_scorer(), "roc_auc"],
        refit=False,
        cv=2,
    )

    with pytest.raises(ValueError, match="Use a dict"):
        search.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["dense"])


def test_windows_alias_with_run_numbers_for_the_splitter(routing, fit_log):
    runs = np.arange(N_SAMPLES) // 50
    score_log = []
    classifier = RecordingClassifier(**FAST).set_fit_request(groups="windows")
    scorer = RecordingScorer(score_log).set_score_request(groups="windows")

    search = GridSearchCV(
        classifier, {"a": [2.0, 3.0]}, scoring=scorer, cv=GroupKFold(2)
    ).fit(X, Y, windows=GROUPS["dense"], groups=runs, sample_weight=WEIGHT)

    # The splitter separated runs; the model and the scorer got the windows.
    for fit_record, score_record in zip(fit_log, score_log, strict=False):
        assert set(runs[fit_record.ids]).isdisjoint(runs[score_record.ids])
        assert_groups_of_rows(fit_record.groups, fit_record.ids, "dense")
        assert_groups_of_rows(score_record.groups, score_record.ids, "dense")
        assert np.unique(runs[score_record.ids]).size == 4
    assert len(fit_log) == 5 and len(score_log) == 4
    assert search.best_estimator_.n_hypotheses_ == MASSES.size


def test_routing_disabled_warns_rather_than_scoring_one_hypothesis():
    search = GridSearchCV(
        PunziClassifier(**FAST),
        {"a": [3.0]},
        scoring=skpunzi.punzi_score,
        cv=GroupKFold(2),
    )

    with pytest.warns(UserWarning, match="enable_metadata_routing") as record:
        search.fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["labels"])

    # Without routing, groups reach the splitter only: one warning per fold.
    assert len(record) == 2
    assert search.best_estimator_.n_hypotheses_ == 1


@pytest.mark.slow  # a fresh interpreter imports torch: several seconds
def test_pickled_best_estimator_predicts_identically_in_a_new_process(
    routing, tmp_path
):
    search = GridSearchCV(
        PunziClassifier(**FAST), {"a": [2.0, 3.0]}, scoring=make_punzi_scorer(), cv=2
    ).fit(X, Y, sample_weight=WEIGHT, groups=GROUPS["sparse"])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(search.best_estimator_))
    np.save(tmp_path / "X.npy", X)

    # A fresh interpreter that imports this checkout of skpunzi, fails on any
    # UserWarning (such as a version mismatch) and, unlike this test, runs
    # torch with its default number of threads.
    script = (
        "import pickle, numpy as np; "
        "model = pickle.loads(open('model.pkl', 'rb').read()); "
        "np.save('proba.npy', model.predict_proba(np.load('X.npy')))"
    )
    package_root = str(Path(skpunzi.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root}
    completed = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "proba.npy"), search.best_estimator_.predict_proba(X)
    )


def test_hist_gradient_boosting_scored_with_punzi_score(routing):
    groups = GROUPS["sparse"]
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    model.set_fit_request(sample_weight=True)

    result = cross_validate(
        model,
        X,
        Y,
        scoring=skpunzi.punzi_score,
        cv=2,
        params={"sample_weight": WEIGHT, "groups": groups},
        return_estimator=True,
        return_indices=True,
    )

    # Each fold's boosted model was fitted with the fold's weights and
    # scored on the fold's windows, like any classifier.
    splits = zip(result["indices"]["train"], result["indices"]["test"], strict=True)
    for fold, (train, test) in enumerate(splits):
        by_hand = clone(model).fit(X[train], Y[train], sample_weight=WEIGHT[train])
        y_score = by_hand.predict_proba(X[test])[:, 1]
        np.testing.assert_array_equal(
            result["estimator"][fold].predict_proba(X[test])[:, 1], y_score
        )
        unweighted = clone(model).fit(X[train], Y[train])
        assert not np.array_equal(unweighted.predict_proba(X[test])[:, 1], y_score)
        expected = mean_fom(Y[test], y_score, WEIGHT[test], groups[test])
        assert result["test_score"][fold] == pytest.approx(expected)
    assert np.all(result["test_score"] > 0)
