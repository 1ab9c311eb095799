"""The mean Punzi figure of merit as a scikit-learn scorer.

Model selection (``GridSearchCV``, ``cross_validate``) needs a scorer that
receives each test fold's event weights and hypothesis windows. scikit-learn
routes such metadata only with ``sklearn.set_config(enable_metadata_routing=
True)``; without it the scorer would silently treat every event as one
hypothesis, so it warns instead.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from functools import partial

import numpy as np
from sklearn import get_config
from sklearn.metrics._scorer import _BaseScorer, _cached_call
from sklearn.utils.metadata_routing import MetadataRequest

from ._metrics import _check_constants, _check_threshold, _punzi_fom

__all__ = ["make_punzi_scorer", "punzi_score"]

# Metadata the scorer consumes, and what it requests unless told otherwise.
_DEFAULT_REQUESTS = {"sample_weight": True, "groups": True}


def make_punzi_scorer(*, a=3.0, b=1.28, luminosity=1.0, threshold=0.5, formula="paper"):
    r"""Make a scorer: the mean Punzi figure of merit over hypotheses.

    The scorer calls ``estimator.predict_proba(X)[:, 1]``, takes the events of
    class ``estimator.classes_[1]`` as signal and returns the mean of
    :math:`\mathrm{FOM}_h = 1/\sigma_{\min,h}` (see :func:`punzi_fom`) over
    the hypotheses that have signal events among the scored rows. Greater is
    better.

    Parameters
    ----------
    a : float, default=3.0
        Number of sigmas of the one-sided test for discovery.
    b : float, default=1.28
        Number of sigmas of the one-sided test for exclusion (1.28 is 90 %).
    luminosity : float, default=1.0
        Target integrated luminosity the weights are scaled by.
    threshold : float, array-like, "optimal" or "per_hypothesis", default=0.5
        The cut on the predicted probability, or one per hypothesis; see
        :func:`punzi_fom`. The searched modes choose the cut on the scored
        fold itself, which is optimistically biased.
    formula : {"paper", "refined"}, default="paper"
        Which approximation of the sensitivity; see
        :func:`punzi_sensitivity`.

    Returns
    -------
    scorer : callable
        A new scorer, called as ``scorer(estimator, X, y_true,
        sample_weight=None, groups=None)``. It requests ``sample_weight``
        and ``groups`` through metadata routing by default; change that with
        its ``set_score_request`` method, which affects this scorer only.

    See Also
    --------
    punzi_fom : The figure of merit per hypothesis.
    punzi_score : The scorer with the default arguments.
    mass_windows : Build ``groups`` from the recoil mass.

    Notes
    -----
    Hypotheses without signal events among the scored rows (for example the
    hypotheses a ``GroupKFold`` test fold does not hold) are skipped; when no
    hypothesis has signal the score is 0.0, with a warning.

    With metadata routing disabled, ``GridSearchCV`` and ``cross_validate``
    pass ``groups`` to the splitter only, never to the scorer, which would
    then score all events as one hypothesis. The scorer therefore warns when
    it receives no ``groups`` while routing is disabled or the estimator
    (the final step of a pipeline, the best estimator of a search) was
    fitted on more than one hypothesis (``n_hypotheses_ > 1``). Enable
    routing with ``sklearn.set_config(enable_metadata_routing=True)``, or
    state that one hypothesis is meant with
    ``scorer.set_score_request(groups=False)``; unlike scikit-learn's
    scorers, ``set_score_request`` works with routing disabled too, for this
    purpose.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpunzi import make_punzi_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    >>> windows = rng.integers(0, 3, 200)
    >>> scorer = make_punzi_scorer(a=5.0)
    >>> scorer
    make_punzi_scorer(a=5.0, b=1.28, luminosity=1.0, threshold=0.5, formula='paper')
    >>> clf = LogisticRegression().fit(X, y)
    >>> round(scorer(clf, X, y, groups=windows), 4)
    1.1149
    """
    return _PunziScorer(
        a=a, b=b, luminosity=luminosity, threshold=threshold, formula=formula
    )


def _mean_punzi_fom(
    y_true, y_score, *, sample_weight=None, groups=None, pos_label=None, **kwargs
):
    """Mean FOM over the hypotheses with signal; 0.0 with a warning if none."""
    result = _punzi_fom(
        y_true,
        y_score,
        sample_weight=sample_weight,
        groups=groups,
        pos_label=pos_label,
        **kwargs,
    )
    if not np.any(result.has_signal):
        warnings.warn(
            "No hypothesis has signal events among the scored rows; the Punzi "
            "score is 0.0. Check y_true and groups of this fold.",
            UserWarning,
            stacklevel=4,
        )
        return 0.0
    return float(np.mean(result.fom[result.has_signal]))


class _PunziScorer(_BaseScorer):
    """Scorer returned by :func:`make_punzi_scorer`; see there."""

    def __init__(self, *, a, b, luminosity, threshold, formula):
        # Validate now, so a typo fails where the scorer is made and not in
        # the middle of a grid search.
        _check_constants(a=a, b=b, luminosity=luminosity, formula=formula)
        _check_threshold(threshold)
        kwargs = {
            "a": a,
            "b": b,
            "luminosity": luminosity,
            "threshold": threshold,
            "formula": formula,
        }
        super().__init__(_mean_punzi_fom, 1, kwargs, response_method="predict_proba")

        # Each scorer owns its requests, so setting them never leaks into
        # another scorer.
        self._metadata_request = MetadataRequest(owner=self)
        for param, alias in _DEFAULT_REQUESTS.items():
            self._metadata_request.score.add_request(param=param, alias=alias)

    def __call__(self, estimator, X, y_true, *, sample_weight=None, groups=None):
        """Mean Punzi figure of merit of ``estimator`` on ``X``.

        Parameters
        ----------
        estimator : object
            Fitted binary classifier with ``predict_proba`` and ``classes_``.
        X : array-like or sparse matrix
            Features of the events to score.
        y_true : array-like of shape (n_samples,)
            True class of each event; ``estimator.classes_[1]`` is signal.
        sample_weight : array-like of shape (n_samples,), default=None
            Event weights; see :func:`punzi_fom`.
        groups : None, array-like or sparse matrix, default=None
            Hypothesis windows of the events; see :func:`punzi_fom`.

        Returns
        -------
        score : float
            Mean figure of merit over the hypotheses with signal events.
        """
        return self._score(
            partial(_cached_call, None),
            estimator,
            X,
            y_true,
            sample_weight=sample_weight,
            groups=groups,
        )

    def _score(self, method_caller, estimator, X, y_true, **metadata):
        # Called directly by scikit-learn's multi-metric scorer, so every
        # check lives here rather than in __call__.
        unexpected = sorted(set(metadata) - set(_DEFAULT_REQUESTS))
        if unexpected:
            raise TypeError(
                f"The Punzi scorer takes only sample_weight and groups as "
                f"metadata; got {unexpected}."
            )
        groups = metadata.get("groups")
        if groups is None:
            self._warn_if_groups_missing(estimator)

        classes = getattr(estimator, "classes_", None)
        if classes is None or len(classes) != 2:
            raise ValueError(
                "The Punzi scorer needs a fitted binary classifier (signal "
                f"and background); {type(estimator).__name__} has classes_ "
                f"{classes!r}."
            )
        y_score = method_caller(estimator, "predict_proba", X, pos_label=None)
        return self._score_func(
            y_true,
            y_score,
            sample_weight=metadata.get("sample_weight"),
            groups=groups,
            pos_label=classes[1],
            **self._kwargs,
        )

    def _warn_if_groups_missing(self, estimator):
        if self._metadata_request.score.requests.get("groups") is False:
            return

        n_hypotheses = _fitted_n_hypotheses(estimator)
        if n_hypotheses > 1:
            reason = f"although the estimator was fitted on {n_hypotheses}"
        elif not get_config()["enable_metadata_routing"]:
            reason = (
                "because metadata routing is disabled: GridSearchCV and "
                "cross_validate then pass groups to the splitter only"
            )
        else:
            return
        warnings.warn(
            "The Punzi scorer received no groups and scores all events as "
            f"one hypothesis, {reason}. Enable routing with "
            "sklearn.set_config(enable_metadata_routing=True) and pass groups "
            "to fit, or call scorer.set_score_request(groups=False) if one "
            "hypothesis is meant.",
            UserWarning,
            stacklevel=4,
        )

    def set_score_request(self, *, sample_weight=None, groups=None):
        """Request metadata passed to the scorer.

        Unlike scikit-learn's scorers this also works with metadata routing
        disabled, so that ``groups=False`` can silence the warning about
        missing groups. Only the given arguments change; the defaults are
        ``sample_weight=True, groups=True``.

        Parameters
        ----------
        sample_weight : bool, str or None, default=None
            ``True``: request ``sample_weight``; ``False``: do not; a string:
            request it under that alias; ``None``: leave unchanged.
        groups : bool, str or None, default=None
            The same for ``groups``.

        Returns
        -------
        self : object
            The scorer, so that calls can be chained.
        """
        for param, alias in [("sample_weight", sample_weight), ("groups", groups)]:
            if alias is None:
                continue
            if not isinstance(alias, (bool, str)):
                raise ValueError(
                    f"{param} must be True, False, None or an alias string; "
                    f"got {alias!r}."
                )
            self._metadata_request.score.add_request(param=param, alias=alias)
        return self

    def _non_default_requests(self):
        requests = self._metadata_request.score.requests
        return {
            param: requests.get(param)
            for param, default in _DEFAULT_REQUESTS.items()
            if requests.get(param) != default
        }

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self._kwargs.items())
        text = f"make_punzi_scorer({arguments})"
        changed = self._non_default_requests()
        if changed:
            requests = ", ".join(f"{key}={value!r}" for key, value in changed.items())
            text += f".set_score_request({requests})"
        return text


def _fitted_n_hypotheses(estimator):
    """``n_hypotheses_`` of the estimator or of the model it wraps, else 1."""
    for _ in range(10):
        if hasattr(estimator, "n_hypotheses_"):
            return estimator.n_hypotheses_
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        elif hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        else:
            break
    return 1


#: The scorer with the default arguments (a=3, b=1.28, threshold 0.5). Make
#: your own with :func:`make_punzi_scorer` before changing its requests.
punzi_score = make_punzi_scorer()
