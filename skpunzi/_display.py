"""Figures physicists expect from a Punzi-net study, as scikit-learn Displays.

Three displays follow scikit-learn's visualisation API: the constructor stores
values already computed, ``plot`` draws them and keeps the matplotlib artists
as attributes ending in ``_``, and the class methods ``from_estimator`` /
``from_predictions`` (or ``from_history``) compute the values, then plot.

- :class:`PunziFOMDisplay`: the Punzi figure of merit per signal hypothesis,
  several classifiers and cut modes on one axis, hypotheses used in training
  and unseen ones marked apart (figure 3 of the Punzi-loss paper).
- :class:`OutputDistributionDisplay`: the classifier output before the
  sigmoid against a per-event variable such as the recoil mass squared, for
  signal and background, with the best cut per hypothesis and a fixed cut
  overlaid (figures 4 and 5 of the paper).
- :class:`TrainingHistoryDisplay`: the loss per epoch of the BCE pretraining
  and of the Punzi fine-tuning, with learning-rate reductions marked.

matplotlib is an optional dependency: it is imported only when a figure is
drawn.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
from collections.abc import Mapping

import numpy as np
from scipy.special import logit
from sklearn.utils.validation import check_is_fitted

from skpunzi._groups import check_groups
from skpunzi._metrics import punzi_fom
from skpunzi._sensitivity import FORMULAS

__all__ = [
    "OutputDistributionDisplay",
    "PunziFOMDisplay",
    "TrainingHistoryDisplay",
]

#: Cut modes :func:`punzi_fom` understands by name.
_THRESHOLD_MODES = ("optimal", "per_hypothesis")

#: Error representations accepted by ``PunziFOMDisplay.plot``.
_ERROR_STYLES = ("band", "bars", None)

#: Phases of ``PunziClassifier.history_``, in training order.
_PHASES = ("pretrain", "punzi")
_PHASE_TITLES = {"pretrain": "BCE pretraining", "punzi": "Punzi fine-tuning"}
_PHASE_LOSS_LABELS = {
    "pretrain": "weighted BCE loss",
    "punzi": r"Punzi loss (mean $\sigma_{\min}$)",
}
_HISTORY_KEYS = ("phase", "epoch", "loss", "validation_loss", "learning_rate")

#: Probabilities are clipped this far from 0 and 1 before ``logit``, so that
#: saturated outputs land at about +-27.6 instead of +-inf.
_PROBA_CLIP = 1e-12


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


def _check_matplotlib(caller_name):
    """Raise an ImportError that names the caller if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller_name} requires matplotlib, an optional dependency of "
            "skpunzi. Install it with `pip install matplotlib`."
        ) from exc


def _check_binary_target(y_true, input_name="y_true"):
    """Return ``y_true`` as a boolean signal mask, 1 (or True) meaning signal.

    The labels recognised are those :func:`punzi_fom` recognises without a
    ``pos_label``: {0, 1}, {-1, 1} and {False, True}.
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(
            f"{input_name} must be 1-D, got an array of shape {y_true.shape}."
        )
    labels = set(np.unique(y_true).tolist())
    if not (labels <= {0, 1} or labels <= {-1, 1}):
        raise ValueError(
            f"{input_name} must hold the labels 1 (signal) and 0 or -1 "
            f"(background); got the labels {sorted(labels, key=str)[:5]}. "
            "Use from_estimator for other labels, or recode them."
        )
    return y_true == 1


def _check_score(score, n_samples, input_name):
    """Return ``score`` as a finite 1-D float array of length ``n_samples``."""
    score = np.asarray(score, dtype=float)
    if score.ndim != 1 or score.shape[0] != n_samples:
        raise ValueError(
            f"{input_name} must be a 1-D array with one value per event "
            f"({n_samples}), got an array of shape {score.shape}."
        )
    if not np.all(np.isfinite(score)):
        raise ValueError(f"{input_name} contains NaN or infinity.")
    return score


def _check_sample_weight(sample_weight, n_samples):
    """Return the weights as a float array; ``None`` means one per event."""
    if sample_weight is None:
        return np.ones(n_samples)
    sample_weight = np.asarray(sample_weight, dtype=float)
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per "
            f"event; got shape {sample_weight.shape}."
        )
    if not np.all(np.isfinite(sample_weight)):
        raise ValueError("sample_weight contains NaN or infinity.")
    return sample_weight


def _positive_class_output(estimator, X, response_method):
    """Score of the positive class, on the probability or the decision scale.

    ``response_method="predict_proba"`` gives ``predict_proba(X)[:, 1]``.
    ``"decision_function"`` gives ``decision_function(X)``, falling back to
    ``logit(predict_proba(X)[:, 1])`` for classifiers without one.
    """
    if response_method == "decision_function" and hasattr(
        estimator, "decision_function"
    ):
        return np.asarray(estimator.decision_function(X), dtype=float).ravel()

    if not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"{type(estimator).__name__} has no predict_proba method; pass a "
            "fitted probabilistic classifier, or compute the scores yourself "
            "and use from_predictions."
        )
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if proba.ndim != 2 or proba.shape[1] != 2:
        raise ValueError(
            f"{type(estimator).__name__}.predict_proba must return two columns "
            f"(background, signal); got an array of shape {proba.shape}."
        )
    if response_method == "decision_function":
        return logit(np.clip(proba[:, 1], _PROBA_CLIP, 1 - _PROBA_CLIP))
    return proba[:, 1]


def _estimator_target(estimator, y):
    """``y`` as 0/1 labels, 1 meaning the estimator's positive class."""
    check_is_fitted(estimator)
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) != 2:
        raise ValueError(
            f"{type(estimator).__name__} must be a fitted binary classifier "
            f"(two classes_), got classes_={classes!r}."
        )
    return (np.asarray(y) == classes[1]).astype(int)


def _fom_at_cuts(
    y_true, y_score, windows, cuts, *, sample_weight, a, b, luminosity, formula
):
    """Punzi FOM per hypothesis for fixed cuts, one cut per hypothesis.

    An event passes the cut of hypothesis ``h`` if ``y_score > cuts[h]``.
    Efficiency and background are the weighted sums of the passing signal
    and background events in each window, as in :func:`punzi_fom`. A NaN
    cut (no cut could be chosen) gives a NaN figure of merit.
    """
    # punzi_fom takes no NaN cut: select nothing there, then mark it NaN.
    missing = np.isnan(cuts)
    fom = punzi_fom(
        np.asarray(y_true).astype(int),
        y_score,
        sample_weight=sample_weight,
        groups=windows,
        threshold=np.where(missing, np.inf, cuts),
        a=a,
        b=b,
        luminosity=luminosity,
        formula=formula,
    )
    return np.where(missing, np.nan, fom)


# --------------------------------------------------------------------------
# PunziFOMDisplay
# --------------------------------------------------------------------------


def _as_curve_table(values, input_name):
    """Turn ``values`` (array or dict name -> array) into names and a 2-D array."""
    if isinstance(values, Mapping):
        keys = list(values)
        table = [np.asarray(values[key], dtype=float) for key in keys]
        shapes = {row.shape for row in table}
        if len(shapes) > 1 or any(row.ndim != 1 for row in table):
            raise ValueError(
                f"Every entry of {input_name} must be a 1-D array of one value "
                f"per hypothesis; got the shapes {[row.shape for row in table]}."
            )
        return keys, np.vstack(table) if table else np.empty((0, 0))

    table = np.asarray(values, dtype=float)
    if table.ndim == 1:
        table = table[np.newaxis, :]
    if table.ndim != 2:
        raise ValueError(
            f"{input_name} must have shape (n_curves, n_hypotheses) or be a "
            f"dict name -> 1-D array; got an array of shape {table.shape}."
        )
    return None, table


class PunziFOMDisplay:
    r"""Punzi figure of merit per signal hypothesis, for several selections.

    Draws :math:`\mathrm{FOM}_h = 1/\sigma_{\min,h}` against the hypothesis
    value (for example the :math:`Z'` mass), one curve per classifier or cut
    mode. Hypotheses used in training are drawn as circles, unseen ones as
    triangles, as in figure 3 of the Punzi-loss paper [1]_. When the figure
    of merit comes from several fits (seeds), the curve is their mean and the
    band or error bars their standard error.

    It is recommended to build the display with :meth:`from_predictions` or
    :meth:`from_estimator`. All parameters are stored as attributes.

    Parameters
    ----------
    fom : array-like of shape (n_curves, n_hypotheses) or dict
        Figure of merit per curve and hypothesis, or a dict name -> 1-D array
        of shape (n_hypotheses,); a 1-D array is one curve.
    hypotheses : array-like of shape (n_hypotheses,), default=None
        Value of each hypothesis on the x axis. ``None`` uses the indices
        0, 1, ..., n_hypotheses - 1.
    names : list of str, default=None
        Legend label of each curve. ``None`` uses the keys of ``fom`` when it
        is a dict, else ``"curve 0"``, ``"curve 1"``, ...
    trained : array-like of bool of shape (n_hypotheses,), default=None
        ``True`` for the hypotheses used in training. ``None`` draws every
        point alike.
    fom_std : array-like or dict, default=None
        Standard error of ``fom``, in the same form as ``fom``; NaN where
        unknown (a single fit). ``None`` draws no error.
    thresholds : dict, default=None
        Cut applied for each curve: name -> array of shape
        (n_fits, n_hypotheses). Not drawn; :meth:`from_predictions` fills it so
        that cuts chosen on a validation sample can be passed unchanged as
        the ``threshold`` of a display of the test sample.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        The line joining the points of each curve.
    trained_markers_ : list of matplotlib Line2D or None
        Circle markers of the trained hypotheses, per curve (``None`` when
        there is none).
    unseen_markers_ : list of matplotlib Line2D or None
        Triangle markers of the hypotheses not used in training, per curve.
    errors_ : list of matplotlib artists or None
        The band (``PolyCollection``) or error bars (``ErrorbarContainer``)
        of each curve, ``None`` where there is no error to draw.
    legend_ : matplotlib Legend
        The legend.
    ax_ : matplotlib Axes
        Axes with the figure of merit.
    figure_ : matplotlib Figure
        Figure containing the axes.

    See Also
    --------
    punzi_fom : The figure of merit per hypothesis after a cut.
    OutputDistributionDisplay : The classifier output against the recoil mass.
    TrainingHistoryDisplay : The loss per epoch.

    Notes
    -----
    Choose cuts on a validation sample and apply them unchanged to the test
    sample: a cut chosen on the sample it is scored on is biased upwards. The
    :attr:`thresholds` of a display built on the validation sample can be
    passed as the ``threshold`` of :meth:`from_predictions` on the test sample.

    References
    ----------
    .. [1] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skpunzi import PunziFOMDisplay
    >>> fom = {"BDT": [3.1, 3.6, 4.2, 4.0], "Punzi-net": [3.3, 3.9, 4.4, 3.8]}
    >>> display = PunziFOMDisplay(
    ...     fom=fom,
    ...     hypotheses=[1.0, 2.0, 3.0, 4.0],
    ...     trained=np.array([True, False, True, False]),
    ... )
    >>> display = display.plot(error=None)
    >>> len(display.lines_)
    2
    """

    def __init__(
        self,
        *,
        fom,
        hypotheses=None,
        names=None,
        trained=None,
        fom_std=None,
        thresholds=None,
    ):
        self.fom = fom
        self.hypotheses = hypotheses
        self.names = names
        self.trained = trained
        self.fom_std = fom_std
        self.thresholds = thresholds

    def _validate_plot_values(self):
        """Return names, fom, std (or None), x values and the trained mask."""
        keys, fom = _as_curve_table(self.fom, "fom")
        n_curves, n_hyp = fom.shape
        if n_curves == 0 or n_hyp == 0:
            raise ValueError(
                f"fom must hold at least one curve and one hypothesis; got "
                f"{n_curves} curves of {n_hyp} hypotheses."
            )

        # Names: explicit, else the dict keys, else generic labels.
        names = self.names if self.names is not None else keys
        if names is None:
            names = [f"curve {i}" for i in range(n_curves)]
        names = [names] if isinstance(names, str) else list(names)
        if len(names) != n_curves:
            raise ValueError(
                f"names must hold one label per curve ({n_curves}), got "
                f"{len(names)}: {names!r}."
            )

        # The error, in the same form as fom and aligned with it.
        std = None
        if self.fom_std is not None:
            if isinstance(self.fom_std, Mapping) and keys is not None:
                missing = set(keys) - set(self.fom_std)
                if missing:
                    raise ValueError(
                        f"fom_std has no entry for the curves {sorted(missing)}."
                    )
                std_values = {key: self.fom_std[key] for key in keys}
            else:
                std_values = self.fom_std
            _, std = _as_curve_table(std_values, "fom_std")
            if std.shape != fom.shape:
                raise ValueError(
                    f"fom_std must have the shape of fom {fom.shape}, got {std.shape}."
                )

        x = np.arange(n_hyp) if self.hypotheses is None else self.hypotheses
        x = np.asarray(x, dtype=float)
        if x.shape != (n_hyp,):
            raise ValueError(
                f"hypotheses must hold one value per hypothesis ({n_hyp}), got "
                f"an array of shape {x.shape}."
            )
        return names, fom, std, x, self._validate_trained(n_hyp)

    def _validate_trained(self, n_hyp):
        if self.trained is None:
            return None
        trained = np.asarray(self.trained)
        if trained.dtype != bool:
            raise ValueError(
                f"trained must be a boolean mask of shape ({n_hyp},), got dtype "
                f"{trained.dtype}. To mark hypotheses by index, pass "
                "np.isin(np.arange(n_hypotheses), indices)."
            )
        if trained.shape != (n_hyp,):
            raise ValueError(
                f"trained must have shape ({n_hyp},), one flag per hypothesis; "
                f"got shape {trained.shape}."
            )
        return trained

    def plot(self, ax=None, *, error="band", xlabel="hypothesis", **kwargs):
        """Plot the figure of merit per hypothesis.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. ``None`` creates a new figure and axes.
        error : {"band", "bars"} or None, default="band"
            How to draw the standard error ``fom_std``: a shaded band, error
            bars, or not at all.
        xlabel : str, default="hypothesis"
            Label of the x axis, for example ``"Z' mass [GeV]"``.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the line of every curve.

        Returns
        -------
        display : PunziFOMDisplay
            The display, with the artists stored as attributes.
        """
        _check_matplotlib("PunziFOMDisplay.plot")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        if error not in _ERROR_STYLES:
            raise ValueError(f"error must be one of {_ERROR_STYLES}, got {error!r}.")
        names, fom, std, x, trained = self._validate_plot_values()
        if ax is None:
            _, ax = plt.subplots()

        # Sort by hypothesis value so that each line runs left to right.
        order = np.argsort(x, kind="stable")
        x, fom = x[order], fom[:, order]
        std = None if std is None else std[:, order]
        trained = None if trained is None else trained[order]

        self.lines_, self.errors_ = [], []
        self.trained_markers_, self.unseen_markers_ = [], []
        for i, name in enumerate(names):
            self._plot_curve(ax, x, fom[i], name, trained, kwargs)
            color = self.lines_[-1].get_color()
            curve_std = None if std is None else std[i]
            self.errors_.append(_draw_error(ax, x, fom[i], curve_std, error, color))

        # Legend: one entry per curve, then the meaning of the two markers.
        handles = list(self.lines_)
        if trained is not None:
            for marker, label in (("o", "trained"), ("^", "not trained")):
                handles.append(
                    Line2D([], [], color="0.3", marker=marker, ls="none", label=label)
                )
        self.legend_ = ax.legend(handles=handles)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"Punzi FOM $1/\sigma_{\min}$")

        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _plot_curve(self, ax, x, fom, name, trained, kwargs):
        """Draw one curve: a line, then circles and triangles on top."""
        line_kwargs = {"label": name, **kwargs}
        if trained is None:
            line_kwargs.setdefault("marker", "o")
        (line,) = ax.plot(x, fom, **line_kwargs)
        self.lines_.append(line)

        for mask, marker, store in (
            (trained, "o", self.trained_markers_),
            (None if trained is None else ~trained, "^", self.unseen_markers_),
        ):
            if mask is None or not mask.any():
                store.append(None)
                continue
            (markers,) = ax.plot(
                x[mask], fom[mask], ls="none", marker=marker, color=line.get_color()
            )
            store.append(markers)

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_scores,
        *,
        sample_weight=None,
        groups=None,
        hypotheses=None,
        trained=None,
        threshold="per_hypothesis",
        names=None,
        a=3.0,
        b=1.28,
        luminosity=1.0,
        formula="paper",
        ax=None,
        error="band",
        xlabel="hypothesis",
    ):
        """Compute the figure of merit from scores and plot it.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            1 (or True) for signal, 0 or -1 for background.
        y_scores : dict or array-like of shape (n_samples,)
            Score of each event: a dict name -> score array (one curve per
            name), or name -> list of score arrays, one per fit (the curve is
            then their mean, the error their standard error). A plain array is
            one curve named ``"classifier"``.
        sample_weight : array-like of shape (n_samples,), default=None
            Physics weights: for signal the efficiency contribution of each
            event, for background its expected yield at the target luminosity.
        groups : array-like, default=None
            Hypothesis window(s) of each event, in any form accepted by
            :func:`skpunzi.check_groups`. ``None`` is one hypothesis.
        hypotheses : array-like of shape (n_hypotheses,), default=None
            Value of each hypothesis on the x axis (e.g. the mass).
        trained : array-like of bool of shape (n_hypotheses,), default=None
            ``True`` for the hypotheses used in training.
        threshold : float, str, array-like or dict, default="per_hypothesis"
            The cut: an event is selected when its score is above it. A
            number (the same cut for every hypothesis),
            ``"optimal"`` or ``"per_hypothesis"`` (chosen on these data by
            :func:`punzi_fom`), an array of shape (n_hypotheses,) of cuts
            chosen elsewhere, or of shape (n_fits, n_hypotheses) with one row
            per fit. A dict name -> one of these sets the cut per curve, e.g.
            ``{"BDT": "per_hypothesis", "Punzi-net": 0.5}``.
        names : list of str, default=None
            Legend labels, in the order of ``y_scores``; default its keys.
        a, b : float, default=3.0, 1.28
            Punzi constants, see :func:`punzi_sensitivity`.
        luminosity : float, default=1.0
            Target integrated luminosity.
        formula : {"paper", "refined"}, default="paper"
            Sensitivity formula, see :func:`punzi_sensitivity`.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a figure.
        error : {"band", "bars"} or None, default="band"
            How to draw the standard error over fits.
        xlabel : str, default="hypothesis"
            Label of the x axis.

        Returns
        -------
        display : PunziFOMDisplay
            The display, with :attr:`thresholds` holding the cuts applied.

        See Also
        --------
        PunziFOMDisplay.from_estimator : The same from fitted classifiers.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from skpunzi import PunziFOMDisplay
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 200)
        >>> groups = rng.integers(0, 4, size=400)
        >>> scores = {"good": y + rng.normal(0, 0.5, 400), "poor": rng.random(400)}
        >>> display = PunziFOMDisplay.from_predictions(
        ...     y, scores, groups=groups, threshold={"good": "per_hypothesis",
        ...     "poor": 0.5}, hypotheses=[1.0, 2.0, 3.0, 4.0])
        >>> display.fom["good"].shape
        (4,)
        """
        _check_matplotlib("PunziFOMDisplay.from_predictions")
        signal = _check_binary_target(y_true)
        n_samples = signal.shape[0]
        y_scores = _check_score_dict(y_scores, n_samples)
        sample_weight = _check_sample_weight(sample_weight, n_samples)
        windows = check_groups(groups, n_samples)
        if formula not in FORMULAS:
            raise ValueError(f"formula must be one of {FORMULAS}, got {formula!r}.")

        # Every cut is checked before the first figure of merit is computed.
        thresholds = _check_threshold_dict(threshold, y_scores)
        fit_cuts = {
            name: [
                _threshold_of_fit(thresholds[name], k, len(fits), windows, name)
                for k in range(len(fits))
            ]
            for name, fits in y_scores.items()
        }

        # One row of figure of merit per fit; mean and standard error per curve.
        fom, fom_std, cuts = {}, {}, {}
        for name, fits in y_scores.items():
            per_fit = [
                _fom_one_fit(
                    signal,
                    score,
                    windows,
                    cut,
                    sample_weight=sample_weight,
                    a=a,
                    b=b,
                    luminosity=luminosity,
                    formula=formula,
                )
                for score, cut in zip(fits, fit_cuts[name], strict=True)
            ]
            fom_fits = np.vstack([row for row, _ in per_fit])
            cuts[name] = np.vstack([cut for _, cut in per_fit])
            fom[name], fom_std[name] = _mean_and_standard_error(fom_fits)

        display = cls(
            fom=fom,
            hypotheses=hypotheses,
            names=names,
            trained=trained,
            fom_std=fom_std,
            thresholds=cuts,
        )
        return display.plot(ax=ax, error=error, xlabel=xlabel)

    @classmethod
    def from_estimator(
        cls,
        estimators,
        X,
        y,
        *,
        sample_weight=None,
        groups=None,
        hypotheses=None,
        trained=None,
        threshold="per_hypothesis",
        names=None,
        a=3.0,
        b=1.28,
        luminosity=1.0,
        formula="paper",
        ax=None,
        error="band",
        xlabel="hypothesis",
    ):
        """Compute the figure of merit of fitted classifiers and plot it.

        The score of each classifier is ``predict_proba(X)[:, 1]``, so numeric
        cuts are probabilities.

        Parameters
        ----------
        estimators : dict or estimator
            Fitted binary classifiers: a dict name -> classifier, or name ->
            list of classifiers (several fits of the same model: the curve is
            their mean, the error their standard error). A single classifier
            is one curve named after its class.
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input features.
        y : array-like of shape (n_samples,)
            True labels; the second entry of each classifier's ``classes_`` is
            the signal.
        sample_weight, groups, hypotheses, trained, threshold, names, a, b, \
luminosity, formula, ax, error, xlabel
            As in :meth:`from_predictions`.

        Returns
        -------
        display : PunziFOMDisplay
            The display.

        See Also
        --------
        PunziFOMDisplay.from_predictions : The same from scores.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from skpunzi import PunziFOMDisplay
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 200)
        >>> X = y[:, None] + rng.normal(size=(400, 2))
        >>> groups = rng.integers(0, 3, size=400)
        >>> model = LogisticRegression().fit(X, y)
        >>> display = PunziFOMDisplay.from_estimator(
        ...     {"logistic": model}, X, y, groups=groups, threshold=0.5)
        >>> display.thresholds["logistic"]
        array([[0.5, 0.5, 0.5]])
        """
        _check_matplotlib("PunziFOMDisplay.from_estimator")
        if not isinstance(estimators, Mapping):
            estimators = {type(estimators).__name__: estimators}

        # Scores and labels per fit; y is recoded per classifier's classes_.
        y_scores, y_true = {}, None
        for name, fits in estimators.items():
            fits = list(fits) if isinstance(fits, (list, tuple)) else [fits]
            y_scores[name] = []
            for estimator in fits:
                labels = _estimator_target(estimator, y)
                if y_true is not None and not np.array_equal(labels, y_true):
                    raise ValueError(
                        "The classifiers disagree on which class is the signal "
                        "(classes_[1]); fit them on the same labels."
                    )
                y_true = labels
                y_scores[name].append(
                    _positive_class_output(estimator, X, "predict_proba")
                )

        return cls.from_predictions(
            y_true,
            y_scores,
            sample_weight=sample_weight,
            groups=groups,
            hypotheses=hypotheses,
            trained=trained,
            threshold=threshold,
            names=names,
            a=a,
            b=b,
            luminosity=luminosity,
            formula=formula,
            ax=ax,
            error=error,
            xlabel=xlabel,
        )


def _draw_error(ax, x, fom, std, error, color):
    """Draw the standard error of one curve as a band or bars, if known."""
    if error is None or std is None or not np.any(np.isfinite(std)):
        return None
    if error == "band":
        return ax.fill_between(
            x, fom - std, fom + std, color=color, alpha=0.25, linewidth=0
        )
    return ax.errorbar(x, fom, yerr=std, fmt="none", ecolor=color, capsize=2)


def _check_score_dict(y_scores, n_samples):
    """Return ``y_scores`` as a dict name -> list of checked arrays, one per fit."""
    if not isinstance(y_scores, Mapping):
        y_scores = {"classifier": y_scores}
    if not y_scores:
        raise ValueError("y_scores is empty; pass at least one score array.")

    checked = {}
    for name, fits in y_scores.items():
        # A list of arrays is several fits; a list of numbers is one array.
        if not (isinstance(fits, (list, tuple)) and fits and np.ndim(fits[0]) == 1):
            fits = [fits]
        checked[name] = [
            _check_score(score, n_samples, f"y_scores[{name!r}]") for score in fits
        ]
    return checked


def _check_threshold_dict(threshold, y_scores):
    """Return the cut of every curve, validated, as a dict name -> cut."""
    if isinstance(threshold, Mapping):
        missing = [name for name in y_scores if name not in threshold]
        unknown = [name for name in threshold if name not in y_scores]
        if missing or unknown:
            raise ValueError(
                f"threshold must give a cut for each curve of y_scores "
                f"{list(y_scores)}; missing {missing}, unknown {unknown}."
            )
        return {name: _check_threshold(threshold[name], name) for name in y_scores}
    checked = _check_threshold(threshold, None)
    return {name: checked for name in y_scores}


def _check_threshold(threshold, name):
    """Validate one cut: a mode name, a number or an array of cuts."""
    where = "threshold" if name is None else f"threshold[{name!r}]"
    if isinstance(threshold, str):
        if threshold not in _THRESHOLD_MODES:
            raise ValueError(
                f"{where} must be a number, an array of cuts or one of "
                f"{_THRESHOLD_MODES}; got {threshold!r}."
            )
        return threshold
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        if np.isnan(threshold):
            raise ValueError(f"{where} must be a number, got NaN.")
        return float(threshold)

    cuts = np.asarray(threshold)
    if cuts.dtype == bool or not np.issubdtype(cuts.dtype, np.number):
        raise ValueError(
            f"{where} must be a number, an array of cuts or one of "
            f"{_THRESHOLD_MODES}; got {threshold!r}."
        )
    if cuts.ndim not in (1, 2):
        raise ValueError(
            f"An array {where} must have shape (n_hypotheses,) or (n_fits, "
            f"n_hypotheses); got shape {cuts.shape}."
        )
    return cuts.astype(float)


def _threshold_of_fit(threshold, k, n_fits, windows, name):
    """The cut of fit ``k``: a mode, a number, or a 1-D array per hypothesis."""
    if not isinstance(threshold, np.ndarray):
        return threshold

    n_hyp = windows.n_hypotheses
    if threshold.ndim == 2:
        if threshold.shape != (n_fits, n_hyp):
            raise ValueError(
                f"threshold[{name!r}] has shape {threshold.shape}; a 2-D array "
                f"of cuts needs one row per fit and one column per hypothesis "
                f"({n_fits}, {n_hyp})."
            )
        return threshold[k]
    if threshold.shape != (n_hyp,):
        raise ValueError(
            f"threshold[{name!r}] holds {threshold.shape[0]} cuts but groups "
            f"defines {n_hyp} hypotheses; pass one cut per hypothesis."
        )
    return threshold


def _fom_one_fit(signal, score, windows, threshold, *, sample_weight, **punzi):
    """Figure of merit and cuts of one fit, for any kind of ``threshold``."""
    if isinstance(threshold, np.ndarray):
        fom = _fom_at_cuts(
            signal, score, windows, threshold, sample_weight=sample_weight, **punzi
        )
        return fom, threshold

    fom, cuts = punzi_fom(
        signal.astype(int),
        score,
        sample_weight=sample_weight,
        groups=windows,
        threshold=threshold,
        return_thresholds=True,
        **punzi,
    )
    cuts = np.broadcast_to(np.asarray(cuts, dtype=float), fom.shape)
    return np.asarray(fom, dtype=float), cuts


def _mean_and_standard_error(values):
    """Mean over the rows and its standard error (NaN for a single row)."""
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean, np.full_like(mean, np.nan)
    std_error = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return mean, std_error


# --------------------------------------------------------------------------
# OutputDistributionDisplay
# --------------------------------------------------------------------------


class OutputDistributionDisplay:
    r"""Classifier output against a per-event variable, signal and background.

    Two panels of 2-D histograms, signal left and background right: the
    classifier output before the sigmoid (the decision function) on the x axis
    and a per-event variable, typically the recoil mass squared, on the y
    axis, on a logarithmic colour scale. Overlaid: the best cut per hypothesis
    at each hypothesis' position on the y axis, and a fixed cut as a vertical
    line (figures 4 and 5 of the Punzi-loss paper [1]_).

    It is recommended to build the display with :meth:`from_estimator` or
    :meth:`from_predictions`. All parameters are stored as attributes.

    Parameters
    ----------
    decision : array-like of shape (n_samples,)
        Classifier output on the decision-function (logit) scale.
    variable : array-like of shape (n_samples,)
        Per-event variable drawn on the y axis.
    y_true : array-like of shape (n_samples,)
        1 (or True) for signal, 0 or -1 for background.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each event in the histograms. ``None`` counts events.
    best_cuts : array-like of shape (n_hypotheses,), default=None
        Cut per hypothesis on the decision scale; ``None`` draws none.
    cut_positions : array-like of shape (n_hypotheses,), default=None
        Position on the y axis of each cut in ``best_cuts`` (the hypothesis'
        window centre, in the units of ``variable``).
    fixed_cut : float, default=None
        A single cut on the decision scale, drawn as a vertical line.
    variable_label : str, default="variable"
        Label of the y axis.
    name : str, default=None
        Name of the classifier, shown in the titles.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (2,)
        The signal and the background panels.
    meshes_ : list of matplotlib QuadMesh
        The 2-D histogram of each panel.
    colorbars_ : list of matplotlib Colorbar or None
        The colour bar of each panel (``None`` with ``colorbar=False``).
    best_cut_lines_ : list of matplotlib Line2D or None
        The best cut per hypothesis in each panel.
    fixed_cut_lines_ : list of matplotlib Line2D or None
        The fixed cut in each panel.
    figure_ : matplotlib Figure
        Figure containing the panels.

    See Also
    --------
    PunziFOMDisplay : The figure of merit per hypothesis.

    Notes
    -----
    The colour of a bin is the sum of ``sample_weight`` over its events, so
    that the background panel shows expected yields and the signal panel
    efficiency. Each panel has its own colour scale. Bins whose sum is zero or
    negative (possible with negative Monte Carlo weights) are left blank,
    since a logarithmic scale cannot show them.

    References
    ----------
    .. [1] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skpunzi import OutputDistributionDisplay
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 500)
    >>> decision = rng.normal(4 * y - 2, 1.5)
    >>> mass2 = rng.uniform(0, 25, size=1000)
    >>> display = OutputDistributionDisplay(
    ...     decision=decision, variable=mass2, y_true=y, fixed_cut=0.0,
    ...     variable_label="$M_{rec}^2$")
    >>> display = display.plot(bins=20)
    >>> [type(mesh).__name__ for mesh in display.meshes_]
    ['QuadMesh', 'QuadMesh']
    """

    def __init__(
        self,
        *,
        decision,
        variable,
        y_true,
        sample_weight=None,
        best_cuts=None,
        cut_positions=None,
        fixed_cut=None,
        variable_label="variable",
        name=None,
    ):
        self.decision = decision
        self.variable = variable
        self.y_true = y_true
        self.sample_weight = sample_weight
        self.best_cuts = best_cuts
        self.cut_positions = cut_positions
        self.fixed_cut = fixed_cut
        self.variable_label = variable_label
        self.name = name

    def _validate_plot_values(self):
        signal = _check_binary_target(self.y_true)
        n_samples = signal.shape[0]
        if signal.all() or not signal.any():
            raise ValueError(
                "y_true must hold both signal (1) and background (0) events to "
                "draw both panels."
            )
        decision = _check_score(self.decision, n_samples, "decision")
        variable = _check_score(self.variable, n_samples, "variable")
        weight = _check_sample_weight(self.sample_weight, n_samples)

        cuts = positions = None
        if self.best_cuts is not None:
            cuts = np.asarray(self.best_cuts, dtype=float).ravel()
            positions = np.asarray(self.cut_positions, dtype=float).ravel()
            if self.cut_positions is None or positions.shape != cuts.shape:
                raise ValueError(
                    f"cut_positions must give the y position of each of the "
                    f"{cuts.shape[0]} best_cuts; got {self.cut_positions!r}."
                )
        return signal, decision, variable, weight, cuts, positions

    def plot(self, ax=None, *, bins=50, cmap="viridis", colorbar=True, **kwargs):
        """Plot the two 2-D histograms and the cuts.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, default=None
            Axes of the signal and of the background panel. ``None`` creates a
            figure with two panels side by side.
        bins : int or [int, int] or [array, array], default=50
            Bins of the decision (x) and of the variable (y), as in
            :func:`numpy.histogram2d`; both panels share the same bin edges.
        cmap : str or matplotlib Colormap, default="viridis"
            Colour map of the histograms.
        colorbar : bool, default=True
            Whether to add a colour bar to each panel.
        **kwargs : dict
            Passed to matplotlib's ``pcolormesh``.

        Returns
        -------
        display : OutputDistributionDisplay
            The display, with the artists stored as attributes.
        """
        _check_matplotlib("OutputDistributionDisplay.plot")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm

        signal, decision, variable, weight, cuts, positions = (
            self._validate_plot_values()
        )
        axes = _two_axes(ax, plt)

        # Shared bin edges, so that the two panels are directly comparable.
        x_bins, y_bins = bins if np.ndim(bins) == 1 and len(bins) == 2 else (bins,) * 2
        x_edges = np.histogram_bin_edges(decision, bins=x_bins)
        y_edges = np.histogram_bin_edges(variable, bins=y_bins)

        self.meshes_, self.colorbars_ = [], []
        self.best_cut_lines_, self.fixed_cut_lines_ = [], []
        for panel, mask, title in zip(
            axes, (signal, ~signal), ("signal", "background"), strict=True
        ):
            counts, _, _ = np.histogram2d(
                decision[mask],
                variable[mask],
                bins=(x_edges, y_edges),
                weights=weight[mask],
            )
            # A log scale cannot show empty or negative bins: leave them blank.
            counts = np.ma.masked_less_equal(counts.T, 0.0)
            norm = LogNorm() if counts.count() else None
            mesh = panel.pcolormesh(
                x_edges, y_edges, counts, norm=norm, cmap=cmap, **kwargs
            )
            self.meshes_.append(mesh)
            self.colorbars_.append(
                panel.figure.colorbar(mesh, ax=panel, label=_weight_label(self))
                if colorbar
                else None
            )
            self._draw_cuts(panel, cuts, positions)
            panel.set_title(title if self.name is None else f"{self.name}: {title}")
            panel.set_xlabel("classifier output before the sigmoid")
            panel.set_ylabel(self.variable_label)

        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    def _draw_cuts(self, panel, cuts, positions):
        """Overlay the best cut per hypothesis and the fixed cut on one panel."""
        best = None
        if cuts is not None:
            # Infinite cuts (select nothing, or everything) and windows
            # without events are skipped rather than drawn at infinity.
            keep = np.isfinite(cuts) & np.isfinite(positions)
            order = np.argsort(positions[keep], kind="stable")
            (best,) = panel.plot(
                cuts[keep][order],
                positions[keep][order],
                color="tab:red",
                marker="o",
                markersize=3,
                label="best cut per hypothesis",
            )
        self.best_cut_lines_.append(best)

        fixed = None
        if self.fixed_cut is not None:
            fixed = panel.axvline(
                self.fixed_cut,
                color="black",
                linestyle="--",
                label=f"fixed cut ({self.fixed_cut:.3g})",
            )
        self.fixed_cut_lines_.append(fixed)
        if best is not None or fixed is not None:
            panel.legend(loc="best", fontsize="small")

    @classmethod
    def from_predictions(
        cls,
        y_true,
        decision,
        *,
        variable,
        sample_weight=None,
        groups=None,
        hypothesis_values=None,
        fixed_cut=0.5,
        best_cuts=True,
        cut_scale="probability",
        bins=50,
        a=3.0,
        b=1.28,
        luminosity=1.0,
        formula="paper",
        variable_label="variable",
        name=None,
        ax=None,
    ):
        """Plot the output distribution from decision-function values.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            1 (or True) for signal, 0 or -1 for background.
        decision : array-like of shape (n_samples,)
            Classifier output before the sigmoid (``decision_function``).
        variable : array-like of shape (n_samples,)
            Per-event variable of the y axis, e.g. the recoil mass squared.
        sample_weight : array-like of shape (n_samples,), default=None
            Physics weights; used for the best cuts and the histograms.
        groups : array-like, default=None
            Hypothesis window(s) of each event, see :func:`check_groups`.
        hypothesis_values : array-like of shape (n_hypotheses,), default=None
            Position of each hypothesis on the y axis, in the units of
            ``variable``. ``None`` uses the centre of each window: the middle
            of the range of ``variable`` over the events in it.
        fixed_cut : float or None, default=0.5
            A single cut to draw, on the ``cut_scale``; 0.5 on the probability
            scale is 0 on the decision scale. ``None`` draws none.
        best_cuts : bool or array-like of shape (n_hypotheses,), default=True
            ``True`` chooses the cut maximising the figure of merit of each
            hypothesis on these data (with :func:`punzi_fom`); an array gives
            cuts chosen elsewhere (e.g. on a validation sample), on the
            ``cut_scale``; ``False`` or ``None`` draws none.
        cut_scale : {"probability", "decision"}, default="probability"
            Scale of ``fixed_cut`` and of an array ``best_cuts``. Probability
            cuts are converted with ``logit``, which assumes that the
            probability is the sigmoid of the decision function.
        bins : int or [int, int] or [array, array], default=50
            Histogram bins, see :meth:`plot`.
        a, b, luminosity, formula
            Punzi constants, luminosity and formula, see
            :func:`punzi_sensitivity`; used for ``best_cuts=True``.
        variable_label : str, default="variable"
            Label of the y axis.
        name : str, default=None
            Name of the classifier, for the titles.
        ax : sequence of two matplotlib Axes, default=None
            Axes of the two panels; ``None`` creates a figure.

        Returns
        -------
        display : OutputDistributionDisplay
            The display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> from skpunzi import OutputDistributionDisplay
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 500)
        >>> decision = rng.normal(4 * y - 2, 1.5)
        >>> mass2 = rng.uniform(0, 30, size=1000)
        >>> groups = (mass2 // 10).astype(int)
        >>> display = OutputDistributionDisplay.from_predictions(
        ...     y, decision, variable=mass2, groups=groups, bins=20)
        >>> display.cut_positions.round()
        array([ 5., 15., 25.])
        """
        _check_matplotlib("OutputDistributionDisplay.from_predictions")
        signal = _check_binary_target(y_true)
        n_samples = signal.shape[0]
        decision = _check_score(decision, n_samples, "decision")
        variable = _check_score(variable, n_samples, "variable")
        windows = check_groups(groups, n_samples)
        if cut_scale not in ("probability", "decision"):
            raise ValueError(
                f"cut_scale must be 'probability' or 'decision', got {cut_scale!r}."
            )

        # Cuts on the decision scale, and where to draw the per-hypothesis ones.
        to_decision = _to_decision_scale if cut_scale == "probability" else _as_float
        fixed = None if fixed_cut is None else to_decision(fixed_cut)
        cuts = _best_cuts(
            best_cuts,
            signal,
            decision,
            windows,
            to_decision,
            sample_weight=sample_weight,
            a=a,
            b=b,
            luminosity=luminosity,
            formula=formula,
        )
        positions = None
        if cuts is not None:
            positions = _cut_positions(hypothesis_values, variable, windows)

        display = cls(
            decision=decision,
            variable=variable,
            y_true=signal.astype(int),
            sample_weight=sample_weight,
            best_cuts=cuts,
            cut_positions=positions,
            fixed_cut=fixed,
            variable_label=variable_label,
            name=name,
        )
        return display.plot(ax=ax, bins=bins)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        variable,
        sample_weight=None,
        groups=None,
        hypothesis_values=None,
        fixed_cut=0.5,
        best_cuts=True,
        cut_scale="probability",
        bins=50,
        a=3.0,
        b=1.28,
        luminosity=1.0,
        formula="paper",
        variable_label=None,
        name=None,
        ax=None,
    ):
        """Plot the output distribution of a fitted classifier.

        The output is ``decision_function(X)``, or ``logit(predict_proba(X)[:,
        1])`` for classifiers without ``decision_function``.

        Parameters
        ----------
        estimator : estimator
            Fitted binary classifier; ``classes_[1]`` is the signal.
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input features.
        y : array-like of shape (n_samples,)
            True labels.
        variable : str or array-like of shape (n_samples,)
            Per-event variable of the y axis, or the name of a column of the
            DataFrame ``X``.
        variable_label : str, default=None
            Label of the y axis; ``None`` uses the column name, or
            ``"variable"`` for an array.
        name : str, default=None
            Name of the classifier for the titles; default its class name.
        sample_weight, groups, hypothesis_values, fixed_cut, best_cuts, \
cut_scale, bins, a, b, luminosity, formula, ax
            As in :meth:`from_predictions`.

        Returns
        -------
        display : OutputDistributionDisplay
            The display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sklearn.linear_model import LogisticRegression
        >>> from skpunzi import OutputDistributionDisplay
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 300)
        >>> X = pd.DataFrame({"x": y + rng.normal(size=600),
        ...                   "m2": rng.uniform(0, 20, size=600)})
        >>> model = LogisticRegression().fit(X[["x"]], y)
        >>> display = OutputDistributionDisplay.from_estimator(
        ...     model, X[["x"]], y, variable=X["m2"], best_cuts=False,
        ...     variable_label="$M_{rec}^2$", bins=10)
        >>> display.fixed_cut
        0.0
        """
        _check_matplotlib("OutputDistributionDisplay.from_estimator")
        y_true = _estimator_target(estimator, y)
        if isinstance(variable, str):
            if not hasattr(X, "columns") or variable not in X.columns:
                raise ValueError(
                    f"variable={variable!r} names no column of X; pass the "
                    "values as an array, or X as a DataFrame holding it."
                )
            variable_label = variable if variable_label is None else variable_label
            variable = X[variable]
        decision = _positive_class_output(estimator, X, "decision_function")

        return cls.from_predictions(
            y_true,
            decision,
            variable=np.asarray(variable, dtype=float),
            sample_weight=sample_weight,
            groups=groups,
            hypothesis_values=hypothesis_values,
            fixed_cut=fixed_cut,
            best_cuts=best_cuts,
            cut_scale=cut_scale,
            bins=bins,
            a=a,
            b=b,
            luminosity=luminosity,
            formula=formula,
            variable_label="variable" if variable_label is None else variable_label,
            name=type(estimator).__name__ if name is None else name,
            ax=ax,
        )


def _as_float(value):
    """``value`` as a float, or a float array if it is not a scalar."""
    value = np.asarray(value, dtype=float)
    return float(value) if value.ndim == 0 else value


def _to_decision_scale(probability):
    """``logit`` of probability cuts, which must lie in [0, 1]."""
    probability = np.asarray(probability, dtype=float)
    if np.any((probability < 0) | (probability > 1)):
        raise ValueError(
            "Probability cuts must lie in [0, 1]; got "
            f"{probability.ravel()[:5].tolist()}. Pass cut_scale='decision' "
            "for cuts on the decision-function scale."
        )
    with np.errstate(divide="ignore"):
        return _as_float(logit(probability))


def _best_cuts(best_cuts, signal, decision, windows, to_decision, **punzi):
    """Cuts per hypothesis on the decision scale, or None to draw none."""
    if best_cuts is None or best_cuts is False:
        return None
    if best_cuts is True:
        # The figure of merit depends only on the order of the scores, so
        # the best cut found on the decision scale is already on that scale.
        _, cuts = punzi_fom(
            signal.astype(int),
            decision,
            groups=windows,
            threshold="per_hypothesis",
            return_thresholds=True,
            **punzi,
        )
        return np.asarray(cuts, dtype=float)

    cuts = np.asarray(best_cuts, dtype=float)
    if cuts.shape != (windows.n_hypotheses,):
        raise ValueError(
            f"best_cuts must be True, False or one cut per hypothesis "
            f"({windows.n_hypotheses}); got {best_cuts!r}."
        )
    return np.asarray(to_decision(cuts), dtype=float)


def _cut_positions(hypothesis_values, variable, windows):
    """Y position of each hypothesis: given, or the centre of its window."""
    n_hyp = windows.n_hypotheses
    if hypothesis_values is not None:
        positions = np.asarray(hypothesis_values, dtype=float)
        if positions.shape != (n_hyp,):
            raise ValueError(
                f"hypothesis_values must hold one value per hypothesis "
                f"({n_hyp}), got an array of shape {positions.shape}."
            )
        return positions

    # Middle of the range of the variable over the events of each window; a
    # window without events has no position and its cut is not drawn.
    values = variable[windows.event]
    low = np.full(n_hyp, np.inf)
    high = np.full(n_hyp, -np.inf)
    np.minimum.at(low, windows.hypothesis, values)
    np.maximum.at(high, windows.hypothesis, values)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(low), (low + high) / 2, np.nan)


def _two_axes(ax, plt):
    """The signal and background axes: given, or a new figure with two panels."""
    if ax is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
        return np.asarray(axes)
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.shape != (2,):
        raise ValueError(
            f"ax must hold two Axes (signal, background), got {axes.shape[0]}."
        )
    return axes


def _weight_label(display):
    return "events" if display.sample_weight is None else "sum of weights"


# --------------------------------------------------------------------------
# TrainingHistoryDisplay
# --------------------------------------------------------------------------


class TrainingHistoryDisplay:
    """Loss per epoch of the BCE pretraining and of the Punzi fine-tuning.

    One panel per training phase, since the two losses have very different
    scales: the training loss as a solid line, the validation loss (where
    recorded) dashed, and a dotted vertical line at each epoch where the
    learning rate was reduced.

    It is recommended to build the display with :meth:`from_estimator` or
    :meth:`from_history`. All parameters are stored as attributes.

    Parameters
    ----------
    history : list of dict
        One dict per epoch, in training order, with the keys ``"phase"``
        (``"pretrain"`` or ``"punzi"``), ``"epoch"`` (counted from 1 within
        the phase), ``"loss"``, ``"validation_loss"`` (NaN if none) and
        ``"learning_rate"``: the ``history_`` of a fitted
        :class:`PunziClassifier`.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (n_phases,)
        One panel per phase present in ``history``, in training order.
    loss_lines_ : dict
        Phase -> Line2D of the training loss.
    validation_lines_ : dict
        Phase -> Line2D of the validation loss, or ``None`` if not recorded.
    lr_reduction_lines_ : dict
        Phase -> list of Line2D, one per learning-rate reduction.
    figure_ : matplotlib Figure
        Figure containing the panels.

    See Also
    --------
    PunziClassifier : The estimator whose ``history_`` this draws.

    Notes
    -----
    A learning-rate reduction is an epoch whose learning rate is lower than
    that of the previous epoch of the same phase; the switch from one phase
    to the next is not counted.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpunzi import TrainingHistoryDisplay
    >>> history = [
    ...     {"phase": "pretrain", "epoch": 1, "loss": 0.69,
    ...      "validation_loss": float("nan"), "learning_rate": 1e-2},
    ...     {"phase": "pretrain", "epoch": 2, "loss": 0.52,
    ...      "validation_loss": float("nan"), "learning_rate": 1e-2},
    ...     {"phase": "punzi", "epoch": 1, "loss": 41.0,
    ...      "validation_loss": 43.5, "learning_rate": 1e-3},
    ...     {"phase": "punzi", "epoch": 2, "loss": 37.2,
    ...      "validation_loss": 40.1, "learning_rate": 1e-4},
    ... ]
    >>> display = TrainingHistoryDisplay(history=history).plot()
    >>> len(display.axes_), len(display.lr_reduction_lines_["punzi"])
    (2, 1)
    """

    def __init__(self, *, history):
        self.history = history

    def plot(self, ax=None, **kwargs):
        """Plot the loss curves, one panel per phase.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            One Axes per phase present in the history. ``None`` creates a
            figure with the panels side by side.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training-loss lines.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the artists stored as attributes.
        """
        _check_matplotlib("TrainingHistoryDisplay.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        phases = _history_columns(self.history)
        if ax is None:
            _, ax = plt.subplots(
                1, len(phases), figsize=(5 * len(phases), 4), layout="constrained"
            )
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.shape[0] != len(phases):
            raise ValueError(
                f"ax must hold one Axes per training phase in the history "
                f"({list(phases)}), got {axes.shape[0]}."
            )

        self.loss_lines_, self.validation_lines_ = {}, {}
        self.lr_reduction_lines_ = {}
        for panel, (phase, columns) in zip(axes, phases.items(), strict=True):
            self._plot_phase(panel, phase, columns, kwargs)
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))

        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    def _plot_phase(self, panel, phase, columns, kwargs):
        """Training loss, validation loss and LR reductions of one phase."""
        epoch = columns["epoch"]
        (line,) = panel.plot(epoch, columns["loss"], **{"label": "training", **kwargs})
        self.loss_lines_[phase] = line

        validation = None
        if np.any(np.isfinite(columns["validation_loss"])):
            (validation,) = panel.plot(
                epoch,
                columns["validation_loss"],
                linestyle="--",
                color=line.get_color(),
                label="validation",
            )
        self.validation_lines_[phase] = validation

        # A reduction is an epoch whose rate is below the previous epoch's.
        rate = columns["learning_rate"]
        reduced = np.flatnonzero(rate[1:] < rate[:-1]) + 1
        self.lr_reduction_lines_[phase] = [
            panel.axvline(
                epoch[i],
                color="0.5",
                linestyle=":",
                label="learning rate reduced" if k == 0 else None,
            )
            for k, i in enumerate(reduced)
        ]

        panel.set_title(_PHASE_TITLES[phase])
        panel.set_xlabel("epoch")
        panel.set_ylabel(_PHASE_LOSS_LABELS[phase])
        panel.legend()

    @classmethod
    def from_history(cls, history, *, ax=None, **kwargs):
        """Plot a training history given as a list of per-epoch dicts.

        Parameters
        ----------
        history : list of dict
            One dict per epoch, see the class docstring.
        ax : matplotlib Axes or sequence of Axes, default=None
            One Axes per phase; ``None`` creates a figure.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training-loss lines.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skpunzi import TrainingHistoryDisplay
        >>> history = [
        ...     {"phase": "punzi", "epoch": e, "loss": 10.0 / e,
        ...      "validation_loss": float("nan"), "learning_rate": 1e-3}
        ...     for e in range(1, 6)
        ... ]
        >>> display = TrainingHistoryDisplay.from_history(history)
        >>> list(display.loss_lines_)
        ['punzi']
        """
        _check_matplotlib("TrainingHistoryDisplay.from_history")
        return cls(history=history).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Plot the ``history_`` of a fitted :class:`PunziClassifier`.

        Parameters
        ----------
        estimator : PunziClassifier
            A fitted estimator with a ``history_`` attribute.
        ax : matplotlib Axes or sequence of Axes, default=None
            One Axes per phase; ``None`` creates a figure.
        **kwargs : dict
            Passed to matplotlib's ``plot`` for the training-loss lines.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from types import SimpleNamespace
        >>> from skpunzi import TrainingHistoryDisplay
        >>> fitted = SimpleNamespace(history_=[
        ...     {"phase": "pretrain", "epoch": 1, "loss": 0.7,
        ...      "validation_loss": 0.71, "learning_rate": 0.01}])
        >>> display = TrainingHistoryDisplay.from_estimator(fitted)
        >>> display.validation_lines_["pretrain"] is not None
        True
        """
        _check_matplotlib("TrainingHistoryDisplay.from_estimator")
        if not hasattr(estimator, "history_"):
            check_is_fitted(estimator, "history_")
        return cls.from_history(estimator.history_, ax=ax, **kwargs)


def _history_columns(history):
    """Validate ``history`` and split it into per-phase arrays, in phase order."""
    if isinstance(history, Mapping) or not len(history):
        raise ValueError(
            "history must be a non-empty list of per-epoch dicts with the keys "
            f"{_HISTORY_KEYS}; got {history!r:.80}."
        )

    rows = {phase: [] for phase in _PHASES}
    for i, record in enumerate(history):
        missing = [key for key in _HISTORY_KEYS if key not in record]
        if missing:
            raise ValueError(
                f"history[{i}] lacks the keys {missing}; every epoch needs "
                f"{_HISTORY_KEYS}."
            )
        if record["phase"] not in _PHASES:
            raise ValueError(
                f"history[{i}]['phase'] must be one of {_PHASES}, got "
                f"{record['phase']!r}."
            )
        rows[record["phase"]].append(record)

    # Columns per phase, as float arrays; None validation losses become NaN.
    phases = {}
    for phase, records in rows.items():
        if not records:
            continue
        phases[phase] = {
            key: np.array(
                [np.nan if r[key] is None else r[key] for r in records], dtype=float
            )
            for key in _HISTORY_KEYS[1:]
        }
    return phases
