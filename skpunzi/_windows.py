"""Mass windows: which hypothesis window(s) each event's recoil mass lies in.

A search for a resonance of unknown mass tests one hypothesis per generated
mass :math:`m_h`. Each hypothesis only sees the events whose recoil mass
squared lies within a few peak widths of :math:`m_h^2`; neighbouring windows
overlap. :func:`mass_windows` builds that membership as the sparse indicator
that every ``groups`` argument of skpunzi accepts.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = ["mass_windows"]


def mass_windows(
    recoil_mass_squared,
    hypotheses,
    widths,
    *,
    n_sigma=2,
    generated_hypothesis=None,
):
    r"""Indicator of the hypothesis mass windows each event lies in.

    Event :math:`i` lies in the window of hypothesis :math:`h` when

    .. math::

        |m^2_i - m_h^2| < n_\sigma \, w_h,

    where :math:`m^2_i` is the event's recoil mass squared, :math:`m_h` the
    hypothesis mass and :math:`w_h` the width of its peak in :math:`m^2`.
    Background events may lie in several overlapping windows; a signal event
    lies at most in the window of the hypothesis it was generated for.

    Parameters
    ----------
    recoil_mass_squared : array-like of shape (n_samples,)
        Reconstructed recoil mass squared of each event. May be negative
        (resolution effects), must be finite.
    hypotheses : array-like of shape (n_hypotheses,)
        Hypothesis masses :math:`m_h`; the window centres are
        :math:`m_h^2`.
    widths : array-like of shape (n_hypotheses,) or callable
        Width :math:`w_h` (one standard deviation of the signal peak, in the
        units of ``recoil_mass_squared``) of each hypothesis, or a callable
        that takes the array of hypothesis masses and returns these widths.
        Must be positive.
    n_sigma : float, default=2
        Half-width of each window in units of its width.
    generated_hypothesis : array-like of shape (n_samples,), default=None
        For a signal event, the index into ``hypotheses`` of the mass it was
        generated with; for a background event ``-1`` (integer arrays) or
        ``NaN`` (float arrays, pandas nullable integers). ``None`` treats
        every event as background.

    Returns
    -------
    windows : scipy.sparse.csr_matrix of shape (n_samples, n_hypotheses)
        0/1 indicator (dtype int8): ``windows[i, h] == 1`` when event ``i``
        lies in the window of hypothesis ``h``. Pass it as ``groups`` to the
        estimator, the loss, :func:`punzi_fom` or the scorer.

    See Also
    --------
    punzi_fom : The figure of merit per hypothesis window.
    make_punzi_scorer : Scorer for model selection over these windows.

    Notes
    -----
    The events are sorted once by recoil mass squared; each window is then a
    contiguous range of that order found with a binary search, so time is
    :math:`O(n \log n + n_{\mathrm{pairs}})` and memory grows with the number
    of (event, window) pairs, never with ``n_samples * n_hypotheses``.

    Window edges are exclusive: an event exactly at
    :math:`m_h^2 \pm n_\sigma w_h` lies outside.

    Examples
    --------
    >>> import numpy as np
    >>> from skpunzi import mass_windows
    >>> m2 = np.array([0.9, 1.1, 3.9, 4.2, 2.5])
    >>> generated = np.array([0, -1, 1, -1, -1])
    >>> windows = mass_windows(
    ...     m2, hypotheses=[1.0, 2.0], widths=[0.3, 0.4],
    ...     generated_hypothesis=generated,
    ... )
    >>> windows.toarray()
    array([[1, 0],
           [1, 0],
           [0, 1],
           [0, 1],
           [0, 0]], dtype=int8)
    """
    m2 = _check_finite_1d(recoil_mass_squared, "recoil_mass_squared")
    masses = _check_finite_1d(hypotheses, "hypotheses")
    widths = _check_widths(widths, masses)
    n_sigma = _check_n_sigma(n_sigma)
    generated = _check_generated(generated_hypothesis, m2.shape[0], masses.shape[0])

    centres = masses**2
    half_widths = n_sigma * widths

    # Background events: sort once, then each window is the contiguous range
    # of the sorted masses strictly inside (centre - half, centre + half).
    background = np.flatnonzero(generated < 0)
    by_mass = background[np.argsort(m2[background], kind="stable")]
    sorted_m2 = m2[by_mass]
    start = np.searchsorted(sorted_m2, centres - half_widths, side="right")
    stop = np.searchsorted(sorted_m2, centres + half_widths, side="left")
    lengths = np.maximum(stop - start, 0)
    background_rows = by_mass[_expand_ranges(start, lengths)]
    background_cols = np.repeat(np.arange(masses.shape[0]), lengths)

    # Signal events: at most one pair each, their own hypothesis' window.
    signal = np.flatnonzero(generated >= 0)
    own = generated[signal]
    inside = np.abs(m2[signal] - centres[own]) < half_widths[own]
    signal_rows, signal_cols = signal[inside], own[inside]

    rows = np.concatenate([background_rows, signal_rows])
    cols = np.concatenate([background_cols, signal_cols])
    indicator = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.int8), (rows, cols)),
        shape=(m2.shape[0], masses.shape[0]),
    )
    # No pair occurs twice, so this only sorts the column indices per row.
    indicator.sum_duplicates()
    return indicator


def _expand_ranges(starts, lengths):
    """Concatenation of ``arange(s, s + n)`` for each ``s, n``, vectorised."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())

    # Each output position is its offset within the output plus a per-range
    # shift that maps the range's first output position onto its start.
    range_offsets = np.cumsum(lengths) - lengths
    shift = np.repeat(starts - range_offsets, lengths)
    return np.arange(total, dtype=np.int64) + shift


def _check_finite_1d(values, name):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {values.shape}.")
    if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        raise ValueError(f"{name} must be numeric; got dtype {values.dtype}.")
    values = values.astype(float)
    if not np.all(np.isfinite(values)):
        bad = values[~np.isfinite(values)][0]
        raise ValueError(f"{name} must be finite; got {float(bad)!r}.")
    return values


def _check_widths(widths, masses):
    if callable(widths):
        widths = widths(masses.copy())
    widths = _check_finite_1d(widths, "widths")
    if widths.shape != masses.shape:
        raise ValueError(
            f"widths must give one width per hypothesis, shape {masses.shape}; "
            f"got shape {widths.shape}."
        )
    if np.any(widths <= 0):
        raise ValueError(
            f"widths must be positive; got {float(widths[widths <= 0][0])!r}."
        )
    return widths


def _check_n_sigma(n_sigma):
    if (
        isinstance(n_sigma, bool)
        or not isinstance(n_sigma, numbers.Real)
        or not np.isfinite(n_sigma)
        or n_sigma <= 0
    ):
        raise ValueError(f"n_sigma must be a positive finite number; got {n_sigma!r}.")
    return float(n_sigma)


def _check_generated(generated, n_samples, n_hypotheses):
    """Integer hypothesis index per event, -1 for background."""
    if generated is None:
        return np.full(n_samples, -1, dtype=np.int64)

    # pandas nullable integers (pd.NA) become NaN floats.
    if hasattr(generated, "to_numpy"):
        generated = generated.to_numpy(dtype=float, na_value=np.nan)
    generated = np.asarray(generated)
    if generated.ndim != 1 or generated.shape[0] != n_samples:
        raise ValueError(
            f"generated_hypothesis must have shape ({n_samples},), one entry "
            f"per event; got shape {generated.shape}."
        )
    if generated.dtype == bool or not np.issubdtype(generated.dtype, np.number):
        raise ValueError(
            "generated_hypothesis must hold integer hypothesis indices (-1 or "
            f"NaN for background); got dtype {generated.dtype}."
        )

    values = generated.astype(float)
    is_background = np.isnan(values) | (values == -1)
    signal_values = values[~is_background]
    valid = (
        (signal_values == np.round(signal_values))
        & (signal_values >= 0)
        & (signal_values < n_hypotheses)
    )
    if not np.all(valid):
        raise ValueError(
            "generated_hypothesis must be an index into hypotheses (0 to "
            f"{n_hypotheses - 1}) for signal and -1 or NaN for background; "
            f"got {float(signal_values[~valid][0])!r}."
        )
    return np.where(is_background, -1, np.nan_to_num(values)).astype(np.int64)
