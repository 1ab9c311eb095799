"""The Punzi figure of merit of a selection, per hypothesis window.

Unlike the Punzi-loss, which weighs events by the network output, the figure
of merit counts the events of a real selection ``y_score > threshold``. The
best cut is found exactly: the events are sorted once, every distinct score
is a candidate cut, and cumulative sums per window give the efficiency and
background after each of them.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array, column_or_1d

from ._groups import check_groups
from ._sensitivity import FORMULAS, punzi_sensitivity

__all__ = ["punzi_fom"]

#: The strings accepted by ``threshold`` besides a number.
THRESHOLD_MODES = ("optimal", "per_hypothesis")

# How many hypothesis indices a warning lists before it abbreviates.
_MAX_LISTED = 20


def punzi_fom(
    y_true,
    y_score,
    *,
    sample_weight=None,
    groups=None,
    threshold=0.5,
    a=3.0,
    b=1.28,
    luminosity=1.0,
    formula="paper",
    pos_label=None,
    return_thresholds=False,
):
    r"""Punzi figure of merit of the selection ``y_score > threshold``.

    For each hypothesis :math:`h` the signal efficiency and the background
    are counted on the events of its window that pass the cut,

    .. math::

        \varepsilon_h = \sum_{i \in S_h,\, s_i > t} w_i, \qquad
        B_h = \sum_{i \in B_h,\, s_i > t} w_i,

    and the figure of merit is the inverse of the Punzi sensitivity,

    .. math::

        \mathrm{FOM}_h = \frac{1}{\sigma_{\min,h}} = \frac{\varepsilon_h L}
        {b^2/2 + a\sqrt{B_h} + \frac{b}{2}\sqrt{b^2 + 4a\sqrt{B_h} + 4B_h}}.

    Greater is better.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Class of each event: signal or background.
    y_score : array-like of shape (n_samples,)
        Classifier output; an event is selected when ``y_score > threshold``.
    sample_weight : array-like of shape (n_samples,), default=None
        Event weights: for signal, its contribution to the efficiency (for
        example ``1 / N_generated``); for background, the expected number of
        events it stands for at the luminosity of the weights. ``None``
        weighs every event 1. Negative weights are allowed.
    groups : None, array-like or sparse matrix, default=None
        Hypothesis window(s) of each event. ``None``: one hypothesis holding
        every event. 1-D: integer hypothesis index per event, ``-1`` for no
        window. 2-D (dense or scipy.sparse, e.g. from :func:`mass_windows`):
        0/1 indicator of shape (n_samples, n_hypotheses); windows may
        overlap.
    threshold : float, array-like, "optimal" or "per_hypothesis", default=0.5
        A number: the cut applied to every hypothesis. An array of shape
        (n_hypotheses,): one cut per hypothesis (for example cuts chosen on a
        validation sample, applied to a test sample). ``"optimal"``: the
        single cut, shared by all hypotheses, that maximises the mean figure
        of merit over the hypotheses that have signal events.
        ``"per_hypothesis"``: the best cut of each hypothesis on its own (the
        maximum achievable figure of merit).
    a : float, default=3.0
        Number of sigmas of the one-sided test for discovery.
    b : float, default=1.28
        Number of sigmas of the one-sided test for exclusion (1.28 is 90 %).
        Must be positive.
    luminosity : float, default=1.0
        Target integrated luminosity :math:`L` the weights are scaled by.
    formula : {"paper", "refined"}, default="paper"
        Which approximation of the sensitivity; see
        :func:`punzi_sensitivity`.
    pos_label : int, float, bool or str, default=None
        The label of the signal class in ``y_true``. By default the labels
        must be {0, 1}, {-1, 1} or {False, True}, and the larger one is
        signal.
    return_thresholds : bool, default=False
        Also return the cut used for each hypothesis.

    Returns
    -------
    fom : ndarray of shape (n_hypotheses,)
        Figure of merit :math:`1/\sigma_{\min}` per hypothesis.
    thresholds : ndarray of shape (n_hypotheses,)
        Only when ``return_thresholds=True``. The cut ``t`` of each
        hypothesis, meaning "select ``y_score > t``": the threshold itself
        for a number or an array; for the searched modes the highest score below the
        selected events (``-inf`` to select every event, ``inf`` to select
        none), so that passing it back as ``threshold`` reproduces the
        figure of merit exactly.

    Warns
    -----
    UserWarning
        When some hypotheses have no signal event in their window; their
        figure of merit is 0 and ``"optimal"`` ignores them.

    See Also
    --------
    punzi_sensitivity : The sensitivity :math:`\sigma_{\min}` this inverts.
    make_punzi_scorer : The mean figure of merit as a model-selection score.
    mass_windows : Build ``groups`` from the recoil mass.

    Notes
    -----
    The searches are exact, not on a grid: the events are sorted once by
    score and only cuts between distinct score values are evaluated, with
    cumulative sums per window. Time is :math:`O(n \log n + n_{\mathrm{pairs}})`
    and memory :math:`O(n_{\mathrm{pairs}})`, where :math:`n_{\mathrm{pairs}}`
    is the number of (event, window) pairs.

    A negative background sum (possible with negative weights) is taken as
    0; a zero or negative efficiency gives a figure of merit of 0, as does
    selecting no event.

    A cut chosen on the sample it is scored on is optimistically biased;
    choose cuts on a validation sample and pass them as ``threshold`` on an
    independent test sample.

    References
    ----------
    .. [1] G. Punzi, "Sensitivity of searches for new signals and its
       optimization", PHYSTAT 2003, arXiv:physics/0308063.
    .. [2] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.

    Examples
    --------
    >>> import numpy as np
    >>> from skpunzi import punzi_fom
    >>> y_true = np.array([1, 1, 0, 0, 0])
    >>> y_score = np.array([0.9, 0.6, 0.7, 0.2, 0.1])
    >>> groups = np.array([0, 0, 0, 0, -1])
    >>> punzi_fom(y_true, y_score, groups=groups).round(4)
    array([0.3074])
    >>> fom, cuts = punzi_fom(
    ...     y_true, y_score, groups=groups, threshold="per_hypothesis",
    ...     return_thresholds=True,
    ... )
    >>> fom.round(4), cuts
    (array([0.6104]), array([0.7]))
    """
    result = _punzi_fom(
        y_true,
        y_score,
        sample_weight=sample_weight,
        groups=groups,
        threshold=threshold,
        a=a,
        b=b,
        luminosity=luminosity,
        formula=formula,
        pos_label=pos_label,
    )
    _warn_without_signal(result.has_signal)
    if return_thresholds:
        return result.fom, result.thresholds
    return result.fom


@dataclass(frozen=True)
class _FomResult:
    """Figure of merit, cut and presence of signal per hypothesis."""

    fom: np.ndarray
    thresholds: np.ndarray
    has_signal: np.ndarray


def _punzi_fom(
    y_true,
    y_score,
    *,
    sample_weight=None,
    groups=None,
    threshold=0.5,
    a=3.0,
    b=1.28,
    luminosity=1.0,
    formula="paper",
    pos_label=None,
):
    """:func:`punzi_fom` without the warning, for callers that skip empties."""
    constants = _check_constants(a=a, b=b, luminosity=luminosity, formula=formula)
    _check_threshold(threshold)
    y_score, weight, is_signal = _check_events(
        y_true, y_score, sample_weight, pos_label
    )
    windows = check_groups(groups, y_score.shape[0])

    # A hypothesis "has signal" when any signal event lies in its window,
    # whatever the weights; the others are skipped by "optimal".
    signal_count = np.bincount(
        windows.hypothesis,
        weights=is_signal[windows.event],
        minlength=windows.n_hypotheses,
    )
    has_signal = signal_count > 0

    if isinstance(threshold, str) and threshold == "per_hypothesis":
        fom, thresholds = _best_cut_per_hypothesis(
            y_score, weight, is_signal, windows, constants
        )
    elif isinstance(threshold, str):
        fom, thresholds = _best_shared_cut(
            y_score, weight, is_signal, windows, has_signal, constants
        )
    else:
        thresholds = _cuts_per_hypothesis(threshold, windows.n_hypotheses)
        fom = _fom_at_cut(y_score, weight, is_signal, windows, thresholds, constants)
    return _FomResult(fom=fom, thresholds=thresholds, has_signal=has_signal)


def _figure_of_merit(efficiency, background, constants):
    """1 / sigma_min, with B clamped at 0 and FOM 0 where efficiency <= 0."""
    background = np.maximum(background, 0.0)
    sensitivity = punzi_sensitivity(efficiency, background, **constants)
    with np.errstate(divide="ignore"):
        fom = 1.0 / sensitivity
    return np.where(efficiency > 0, fom, 0.0)


def _fom_at_cut(y_score, weight, is_signal, windows, threshold, constants):
    """Figure of merit per hypothesis after the cut ``y_score > threshold``.

    ``threshold`` is one cut for all hypotheses or an array of one per
    hypothesis.
    """
    threshold = np.asarray(threshold, dtype=float)
    if threshold.ndim == 0:
        pair_weight = (weight * (y_score > threshold))[windows.event]
    else:
        passed = y_score[windows.event] > threshold[windows.hypothesis]
        pair_weight = weight[windows.event] * passed
    pair_signal = is_signal[windows.event]

    n_hypotheses = windows.n_hypotheses
    efficiency = np.bincount(
        windows.hypothesis, weights=pair_weight * pair_signal, minlength=n_hypotheses
    )
    background = np.bincount(
        windows.hypothesis,
        weights=pair_weight * ~pair_signal,
        minlength=n_hypotheses,
    )
    return _figure_of_merit(efficiency, background, constants)


@dataclass
class _Scan:
    """Pairs ordered by (hypothesis, descending score), with running FOM.

    Events enter through their rank: ``by_score[rank]`` is the event at
    position ``rank`` of the descending score order of all events that lie
    in some window. ``bounds[h]:bounds[h + 1]`` are the pairs of hypothesis
    ``h``; ``fom[j]`` is that window's figure of merit when its events down
    to pair ``j`` are selected (a real cut only after the last of a run of
    equal scores).
    """

    rank: np.ndarray
    fom: np.ndarray
    bounds: np.ndarray
    by_score: np.ndarray
    sorted_score: np.ndarray


def _scan(y_score, weight, is_signal, windows, constants):
    """Running figure of merit of every window along descending score."""
    rank, hypothesis, by_score = _order_pairs(y_score, windows)
    sizes = np.bincount(hypothesis, minlength=windows.n_hypotheses)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    del hypothesis

    # Gathers by rank run forward within each window, which keeps them
    # cache-friendly on tens of millions of pairs.
    sorted_score = y_score[by_score]
    efficiency = np.where(is_signal, weight, 0.0)[by_score][rank]
    background = np.where(is_signal, 0.0, weight)[by_score][rank]

    # Running sums per window. A cumsum per window (not one global cumsum
    # minus offsets) keeps every sum exact to the rounding of its window.
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        np.cumsum(efficiency[start:stop], out=efficiency[start:stop])
        np.cumsum(background[start:stop], out=background[start:stop])

    fom = _figure_of_merit(efficiency, background, constants)
    return _Scan(
        rank=rank,
        fom=fom,
        bounds=bounds,
        by_score=by_score,
        sorted_score=sorted_score,
    )


def _order_pairs(y_score, windows):
    """Rank and hypothesis of the pairs, ordered by (hypothesis, rank).

    The rank of an event is its position in the descending score order of
    the events that lie in some window (returned as ``by_score``).
    """
    # Sort the events that lie in some window once, by descending score.
    # Ties may come in any order: only cuts between distinct scores count.
    members = np.flatnonzero(windows.in_any_window())
    by_score = members[np.argsort(-y_score[members])]
    rank_of_event = np.empty(windows.n_samples, dtype=np.int64)
    rank_of_event[by_score] = np.arange(by_score.shape[0])
    rank = rank_of_event[windows.event]
    del rank_of_event

    # Pack (hypothesis, rank) into one int64 and sort the values: numpy
    # sorts plain integers several times faster than it argsorts them.
    shift = max(int(by_score.shape[0]).bit_length(), 1)
    if windows.n_hypotheses < 2 ** (62 - shift):
        key = (windows.hypothesis << shift) | rank
        key.sort()
        return key & ((1 << shift) - 1), key >> shift, by_score

    order = np.lexsort((rank, windows.hypothesis))
    return rank[order], windows.hypothesis[order], by_score


def _best_cut_per_hypothesis(y_score, weight, is_signal, windows, constants):
    """Maximum of each window's figure of merit over all cuts."""
    scan = _scan(y_score, weight, is_signal, windows, constants)
    score = scan.sorted_score[scan.rank]

    fom = np.zeros(windows.n_hypotheses)
    thresholds = np.full(windows.n_hypotheses, np.inf)
    window_bounds = zip(scan.bounds[:-1], scan.bounds[1:], strict=True)
    for h, (start, stop) in enumerate(window_bounds):
        if start == stop:
            continue

        # Candidate cuts sit after the last pair of each run of equal scores.
        window_score = score[start:stop]
        candidate = scan.fom[start:stop].copy()
        candidate[:-1][window_score[:-1] == window_score[1:]] = -np.inf
        best = int(np.argmax(candidate))
        if candidate[best] <= 0:
            continue

        # The cut is the next lower score in the window (-inf: take all).
        fom[h] = candidate[best]
        lower = start + best + 1
        thresholds[h] = score[lower] if lower < stop else -np.inf
    return fom, thresholds


def _best_shared_cut(y_score, weight, is_signal, windows, has_signal, constants):
    """The single cut that maximises the mean FOM over hypotheses with signal."""
    n_with_signal = int(np.count_nonzero(has_signal))
    if n_with_signal == 0:
        return np.zeros(windows.n_hypotheses), np.full(windows.n_hypotheses, np.inf)
    scan = _scan(y_score, weight, is_signal, windows, constants)

    # The change of its window's FOM as each pair is selected. Within a
    # window the changes telescope, so their sum down to any cut is the
    # window's FOM at that cut.
    change = scan.fom.copy()
    change[1:] -= scan.fom[:-1]
    starts = scan.bounds[:-1][scan.bounds[:-1] < scan.bounds[1:]]
    change[starts] = scan.fom[starts]

    # Add the changes up at the events' positions in the global score order:
    # the running total is then the summed FOM after each event.
    n_members = scan.by_score.shape[0]
    total_change = np.bincount(scan.rank, weights=change, minlength=n_members)
    del change
    mean_fom = np.cumsum(total_change) / n_with_signal

    # Only cuts between distinct scores are real; -inf marks the others.
    sorted_score = scan.sorted_score
    mean_fom[:-1][sorted_score[:-1] == sorted_score[1:]] = -np.inf
    best = int(np.argmax(mean_fom))
    if mean_fom[best] <= 0:
        cut = np.inf
    elif best + 1 < n_members:
        cut = sorted_score[best + 1]
    else:
        cut = -np.inf

    # Recount at the chosen cut, so the result is exactly what passing the
    # cut back as ``threshold`` gives.
    fom = _fom_at_cut(y_score, weight, is_signal, windows, cut, constants)
    return fom, np.full(windows.n_hypotheses, cut)


def _warn_without_signal(has_signal):
    """One warning listing every hypothesis without signal events."""
    empty = np.flatnonzero(~has_signal)
    if empty.size == 0:
        return
    listed = ", ".join(str(h) for h in empty[:_MAX_LISTED])
    if empty.size > _MAX_LISTED:
        listed += f", ... ({empty.size} in all)"
    warnings.warn(
        f"No signal event lies in the window of hypotheses [{listed}]; their "
        "figure of merit is set to 0. Check groups and y_true, or drop these "
        "hypotheses.",
        UserWarning,
        stacklevel=3,
    )


def _check_constants(*, a, b, luminosity, formula):
    """The keyword arguments of punzi_sensitivity, validated."""
    for name, value, low, closed in [
        ("a", a, 0.0, True),
        ("b", b, 0.0, False),
        ("luminosity", luminosity, 0.0, False),
    ]:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not np.isfinite(value)
            or value < low
            or (value == low and not closed)
        ):
            expected = "a finite number >= 0" if closed else "a positive finite number"
            raise ValueError(f"{name} must be {expected}; got {value!r}.")
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {FORMULAS}; got {formula!r}.")
    return {"a": a, "b": b, "luminosity": luminosity, "formula": formula}


def _check_threshold(threshold):
    if isinstance(threshold, str):
        if threshold not in THRESHOLD_MODES:
            raise ValueError(
                f"threshold must be a number, an array of one cut per hypothesis "
                f"or one of {THRESHOLD_MODES}; got {threshold!r}."
            )
        return
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        if np.isnan(threshold):
            raise ValueError("threshold must not be NaN.")
        return

    # Otherwise one cut per hypothesis; its length is checked with groups.
    cuts = np.asarray(threshold)
    if cuts.ndim != 1 or cuts.dtype == bool or not np.issubdtype(cuts.dtype, np.number):
        raise ValueError(
            f"threshold must be a number, an array of one cut per hypothesis "
            f"or one of {THRESHOLD_MODES}; got {threshold!r}."
        )
    if np.any(np.isnan(cuts)):
        raise ValueError("threshold must not contain NaN.")


def _cuts_per_hypothesis(threshold, n_hypotheses):
    """``threshold`` (a number or one cut per hypothesis) as an array."""
    cuts = np.asarray(threshold, dtype=float)
    if cuts.ndim == 0:
        return np.full(n_hypotheses, float(cuts))
    if cuts.shape != (n_hypotheses,):
        raise ValueError(
            f"threshold holds {cuts.shape[0]} cuts but groups defines "
            f"{n_hypotheses} hypotheses; pass one cut per hypothesis."
        )
    return cuts.copy()


def _check_events(y_true, y_score, sample_weight, pos_label):
    """Validated scores, weights and signal mask."""
    y_score = check_array(
        y_score, ensure_2d=False, dtype=np.float64, input_name="y_score"
    )
    if y_score.ndim != 1:
        raise ValueError(
            "y_score must be 1-D, one score per event; got an array of shape "
            f"{y_score.shape}."
        )
    n_samples = y_score.shape[0]
    is_signal = _signal_mask(y_true, pos_label, n_samples)

    if sample_weight is None:
        return y_score, np.ones(n_samples), is_signal
    weight = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
    )
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per "
            f"event; got shape {weight.shape}."
        )
    return y_score, weight, is_signal


def _signal_mask(y_true, pos_label, n_samples):
    """Boolean mask of the signal events in ``y_true``."""
    y_true = column_or_1d(y_true, input_name="y_true")
    if y_true.shape[0] != n_samples:
        raise ValueError(
            f"y_true has {y_true.shape[0]} entries but y_score has {n_samples}; "
            "pass one label and one score per event."
        )
    labels = np.unique(y_true)
    if labels.size > 2:
        raise ValueError(
            "y_true must hold two classes, signal and background; got "
            f"{labels.size} labels: {labels.tolist()[:_MAX_LISTED]}."
        )

    if pos_label is None:
        # {0, 1}, {-1, 1} and {False, True}: signal is 1 (True == 1).
        known = set(labels.tolist())
        if not (known <= {0, 1} or known <= {-1, 1}):
            raise ValueError(
                f"y_true has labels {labels.tolist()}; pass pos_label, the "
                "label of the signal class (only {0, 1}, {-1, 1} and "
                "{False, True} are recognised without it)."
            )
        pos_label = 1
    elif labels.size == 2 and pos_label not in labels.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} is not a label of y_true, which holds "
            f"{labels.tolist()}."
        )
    return np.asarray(y_true == pos_label, dtype=bool)
