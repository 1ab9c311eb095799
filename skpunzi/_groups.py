"""Validation of ``groups``: which hypothesis window(s) each event lies in.

Every public entry point that takes ``groups`` (the estimator, the loss, the
figure of merit and the scorer) turns it into one canonical form,
:class:`Windows`: the list of (event, hypothesis) pairs, sorted by event. The
sums the Punzi-loss needs are then segment sums over these pairs, and nothing
of size ``n_samples x n_hypotheses`` is ever built.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Windows", "check_groups"]


@dataclass(frozen=True)
class Windows:
    """Membership of events in hypothesis windows, as (event, hypothesis) pairs.

    Attributes
    ----------
    event : ndarray of shape (n_pairs,), dtype int64
        Event index of each pair, sorted ascending.
    hypothesis : ndarray of shape (n_pairs,), dtype int64
        Hypothesis index of each pair.
    n_samples : int
        Number of events.
    n_hypotheses : int
        Number of hypotheses (windows).
    """

    event: np.ndarray
    hypothesis: np.ndarray
    n_samples: int
    n_hypotheses: int

    @property
    def n_pairs(self):
        """Number of (event, hypothesis) pairs."""
        return self.event.shape[0]

    def in_any_window(self):
        """Boolean mask of shape (n_samples,): the event lies in some window."""
        mask = np.zeros(self.n_samples, dtype=bool)
        mask[self.event] = True
        return mask

    def take(self, indices):
        """Windows of the events ``indices`` (in that order)."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        return _from_sparse(self.to_sparse()[indices], self.n_hypotheses)

    def to_sparse(self):
        """The windows as a CSR indicator of shape (n_samples, n_hypotheses)."""
        data = np.ones(self.n_pairs, dtype=np.int8)
        return sp.csr_matrix(
            (data, (self.event, self.hypothesis)),
            shape=(self.n_samples, self.n_hypotheses),
        )


def _from_sparse(indicator, n_hypotheses):
    # CSR with sorted indices already lists the pairs by event, then by
    # hypothesis; no sort of the pairs is needed.
    csr = indicator.tocsr()
    csr.sum_duplicates()
    csr.eliminate_zeros()
    counts = np.diff(csr.indptr)
    return Windows(
        event=np.repeat(np.arange(csr.shape[0], dtype=np.int64), counts),
        hypothesis=csr.indices.astype(np.int64),
        n_samples=csr.shape[0],
        n_hypotheses=n_hypotheses,
    )


def check_groups(groups, n_samples, *, input_name="groups"):
    """Validate ``groups`` and return its canonical :class:`Windows` form.

    Parameters
    ----------
    groups : None, array-like of shape (n_samples,) or (n_samples, n_hypotheses)
        ``None``: one hypothesis holding every event. 1-D: integer hypothesis
        index of each event, ``-1`` for an event in no window. 2-D (dense or
        scipy.sparse): 0/1 indicator, an event may lie in several windows.
    n_samples : int
        Number of events ``groups`` must describe.
    input_name : str, default="groups"
        Name used in error messages.

    Returns
    -------
    windows : Windows
    """
    if groups is None:
        return Windows(
            event=np.arange(n_samples, dtype=np.int64),
            hypothesis=np.zeros(n_samples, dtype=np.int64),
            n_samples=n_samples,
            n_hypotheses=1,
        )
    if isinstance(groups, Windows):
        _check_length(groups.n_samples, n_samples, input_name)
        return groups
    if sp.issparse(groups):
        return _check_indicator_sparse(groups, n_samples, input_name)

    groups = np.asarray(groups)
    if groups.ndim == 1:
        return _check_labels(groups, n_samples, input_name)
    if groups.ndim == 2:
        return _check_indicator_sparse(sp.csr_matrix(groups), n_samples, input_name)
    raise ValueError(
        f"{input_name} must be 1-D hypothesis indices or a 2-D indicator of "
        f"shape (n_samples, n_hypotheses); got an array of shape {groups.shape}."
    )


def _check_length(n_rows, n_samples, input_name):
    if n_rows != n_samples:
        raise ValueError(
            f"{input_name} describes {n_rows} events but X has {n_samples} "
            f"samples; pass one entry (1-D) or one row (2-D) per event."
        )


def _check_labels(groups, n_samples, input_name):
    _check_length(groups.shape[0], n_samples, input_name)
    if groups.dtype == bool or not np.issubdtype(groups.dtype, np.number):
        raise ValueError(
            f"1-D {input_name} must hold integer hypothesis indices (-1 for "
            f"'in no window'); got dtype {groups.dtype}."
        )
    if not np.all(np.isfinite(groups)):
        raise ValueError(f"{input_name} contains NaN or infinity.")
    labels = groups.astype(np.int64)
    if not np.array_equal(labels, groups):
        raise ValueError(
            f"1-D {input_name} must hold integer hypothesis indices; got "
            f"non-integer values such as {groups[labels != groups][0].item()!r}."
        )
    if labels.size and labels.min() < -1:
        raise ValueError(
            f"1-D {input_name} must be >= -1 (-1 means 'in no window'); got "
            f"{labels.min()}."
        )

    in_window = np.flatnonzero(labels >= 0)
    n_hypotheses = int(labels.max()) + 1 if labels.size else 0
    return Windows(
        event=in_window.astype(np.int64),
        hypothesis=labels[in_window],
        n_samples=n_samples,
        n_hypotheses=max(n_hypotheses, 0),
    )


def _check_indicator_sparse(indicator, n_samples, input_name):
    _check_length(indicator.shape[0], n_samples, input_name)
    # A copy: canonicalising sorts indices in place, and the caller's matrix
    # must stay as it was.
    csr = sp.csr_matrix(indicator, copy=True)
    values = csr.data
    if values.dtype != bool and not np.all(np.isfinite(values.astype(float))):
        raise ValueError(f"{input_name} contains NaN or infinity.")
    if not np.all((values == 0) | (values == 1)):
        bad = values[(values != 0) & (values != 1)][0]
        raise ValueError(
            f"A 2-D {input_name} must be a 0/1 indicator of which window each "
            f"event lies in; got the value {bad.item()!r}."
        )
    return _from_sparse(csr, indicator.shape[1])
