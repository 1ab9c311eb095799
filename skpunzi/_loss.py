"""The Punzi-loss: a differentiable mean Punzi sensitivity over hypotheses."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from ._groups import check_groups
from ._sensitivity import FORMULAS, punzi_sensitivity

__all__ = ["PunziLoss", "WindowIndex", "mean_sensitivity", "window_sums"]

# Floors applied before the sensitivity is evaluated. sqrt(B) has an infinite
# derivative at B = 0 and sigma_min diverges at zero efficiency; flooring both
# keeps every value and gradient finite while changing nothing for windows
# that hold at least a millionth of a weighted event.
MIN_EFFICIENCY = 1e-8
MIN_BACKGROUND = 1e-8


class WindowIndex:
    """Which sums each event enters, built once per fit and reused every step.

    Events that share a class and a set of windows enter exactly the same
    sums, so they get one *key*: the per-window sums are then a sum per key
    (one scatter over the events) followed by a tiny key-to-window table,
    instead of a scatter over every (event, window) pair. With mass windows
    there are only a few hundred keys, whatever the number of events, and the
    cost of a step no longer grows with the overlap of the windows.

    Parameters
    ----------
    windows : Windows
        Canonical window membership from :func:`check_groups`.
    is_signal : ndarray of bool, shape (n_samples,)
    device : torch.device, default="cpu"

    Attributes
    ----------
    key : torch.Tensor of shape (n_samples,), dtype int64
        The key of each event.
    table_key, table_slot : torch.Tensor of shape (n_entries,), dtype int64
        One entry per (key, window): the slot of that window's sum among the
        ``2 * n_hypotheses`` sums (efficiencies first, then backgrounds).
    n_keys, n_hypotheses : int
    """

    def __init__(self, windows, is_signal, device="cpu"):
        is_signal = np.asarray(is_signal, dtype=bool)
        key, first = _window_set_keys(windows, is_signal)
        offsets = np.searchsorted(windows.event, np.arange(windows.n_samples + 1))
        counts = np.diff(offsets)

        # The table lists the windows of one representative event per key.
        entries = _ranges(offsets[first], counts[first])
        table_key = np.repeat(np.arange(first.shape[0]), counts[first])
        table_slot = windows.hypothesis[entries] + windows.n_hypotheses * np.repeat(
            ~is_signal[first], counts[first]
        )
        self.n_hypotheses = windows.n_hypotheses
        self.n_keys = first.shape[0]
        self.key = torch.as_tensor(key, dtype=torch.int64, device=device)
        self.table_key = torch.as_tensor(table_key, dtype=torch.int64, device=device)
        self.table_slot = torch.as_tensor(table_slot, dtype=torch.int64, device=device)

    def __len__(self):
        return self.key.shape[0]

    def take(self, indices):
        """The index of the events ``indices`` (a tensor or a slice)."""
        subset = copy.copy(self)
        subset.key = self.key[indices]
        return subset

    def in_window(self):
        """Boolean tensor of shape (n_samples,): the event lies in some window."""
        has_entries = torch.zeros(self.n_keys, dtype=torch.bool, device=self.key.device)
        has_entries[self.table_key] = True
        return has_entries[self.key]

    def sums(self, key_sums):
        """Efficiency and background per hypothesis from the sums per key."""
        sums = key_sums.new_zeros(2 * self.n_hypotheses).index_add(
            0, self.table_slot, key_sums.index_select(0, self.table_key)
        )
        return sums[: self.n_hypotheses], sums[self.n_hypotheses :]

    def spread(self, grad_sums):
        """d(loss)/d(key sum) from d(loss)/d(window sum): the adjoint of sums."""
        return grad_sums.new_zeros(self.n_keys).index_add(
            0, self.table_key, grad_sums.index_select(0, self.table_slot)
        )


def window_sums(values, key, index):
    """Efficiency and background per hypothesis, differentiable in ``values``.

    Parameters
    ----------
    values : torch.Tensor of shape (n_events,)
        ``sample_weight * output`` of each event.
    key : torch.Tensor of shape (n_events,)
        Key of each event (``index.key`` or a slice of it).
    index : WindowIndex

    Returns
    -------
    efficiency, background : torch.Tensor of shape (n_hypotheses,)
    """
    key_sums = values.new_zeros(index.n_keys).index_add(0, key, values)
    return index.sums(key_sums)


def _window_set_keys(windows, is_signal):
    """Key of each event (same class and windows <=> same key), and a
    representative event per key.

    Each window gets a random 64-bit code; an event's hash is the sum of the
    codes of its windows (and of its class). Equal hashes are then checked
    against the actual windows, so a collision can never merge different
    events: it only triggers another draw, and after a few the events keep
    keys of their own.
    """
    n_samples, n_pairs = windows.n_samples, windows.n_pairs
    offsets = np.searchsorted(windows.event, np.arange(n_samples + 1))
    rng = np.random.default_rng(0)
    for _ in range(3):
        codes = rng.integers(0, 2**63, size=windows.n_hypotheses + 1, dtype=np.uint64)
        # Sums of uint64 wrap around, which is what a hash wants.
        cumulative = np.zeros(n_pairs + 1, dtype=np.uint64)
        np.cumsum(codes[windows.hypothesis], out=cumulative[1:])
        hashes = cumulative[offsets[1:]] - cumulative[offsets[:-1]]
        hashes += codes[-1] * is_signal.astype(np.uint64)
        key, _ = pd.factorize(hashes, sort=False)
        # Keys are numbered in order of first appearance.
        first = np.flatnonzero(np.diff(np.maximum.accumulate(key), prepend=-1) > 0)
        if _keys_are_exact(windows, is_signal, offsets, key, first):
            return key.astype(np.int64), first
    return np.arange(n_samples, dtype=np.int64), np.arange(n_samples)


def _keys_are_exact(windows, is_signal, offsets, key, first):
    """Whether every event has its representative's class and windows."""
    representative = first[key]
    counts = np.diff(offsets)
    if not (
        np.array_equal(is_signal, is_signal[representative])
        and np.array_equal(counts, counts[representative])
    ):
        return False
    shift = np.repeat(offsets[representative] - offsets[:-1], counts)
    same = windows.hypothesis[np.arange(windows.n_pairs) + shift] == windows.hypothesis
    return bool(same.all())


def _ranges(starts, lengths):
    """Concatenation of ``arange(start, start + length)`` for each pair."""
    total = int(lengths.sum())
    shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(total) + shift


def mean_sensitivity(
    efficiency, background, hypothesis_weights, *, a, b, luminosity, formula
):
    """Weighted mean of the floored Punzi sensitivity over hypotheses.

    Hypotheses of weight zero (no signal in the data) are left out, so they
    cannot turn the mean into ``inf * 0``.
    """
    included = hypothesis_weights > 0
    sensitivity = punzi_sensitivity(
        efficiency[included].clamp_min(MIN_EFFICIENCY),
        background[included].clamp_min(MIN_BACKGROUND),
        a=a,
        b=b,
        luminosity=luminosity,
        formula=formula,
    )
    weights = hypothesis_weights[included]
    return (sensitivity * weights).sum() / weights.sum()


class PunziLoss(nn.Module):
    r"""Punzi-loss: the mean Punzi sensitivity over signal hypotheses.

    For every hypothesis :math:`h` (a window in the searched variable), the
    cut on the classifier output is replaced by the output itself,

    .. math::

        \varepsilon_h = s \sum_{i \in h,\, y_i = 1} w_i\, p_i, \qquad
        B_h = s \sum_{i \in h,\, y_i = 0} w_i\, p_i,

    and the loss is :math:`\sum_h \omega_h \sigma_{\min}(\varepsilon_h, B_h)
    / \sum_h \omega_h` (see :func:`punzi_sensitivity`). Use it in your own
    training loop like any other PyTorch loss.

    Parameters
    ----------
    a : float, default=3.0
        Sigmas of the discovery test.
    b : float, default=1.28
        Sigmas of the exclusion test.
    luminosity : float, default=1.0
        Target luminosity :math:`L`.
    formula : {"paper", "refined"}, default="paper"
        Variant of the sensitivity, see :func:`punzi_sensitivity`.
    hypothesis_weights : array-like of shape (n_hypotheses,), default=None
        Relative weight :math:`\omega_h` of each hypothesis in the mean (a
        non-flat prior over masses). ``None`` weighs all equally.

    Notes
    -----
    Hypotheses without signal weight in the data passed to :meth:`forward`
    are left out of the mean. Efficiency and background are floored at
    ``1e-8`` before the sensitivity is evaluated, so the loss and its gradient
    stay finite at zero background (where :math:`\sqrt{B}` has an infinite
    derivative) and at zero efficiency.

    Examples
    --------
    >>> import torch
    >>> from skpunzi import PunziLoss
    >>> loss = PunziLoss(a=3, b=1.28)
    >>> output = torch.tensor([0.9, 0.8, 0.2, 0.1], requires_grad=True)
    >>> target = torch.tensor([1, 1, 0, 0])
    >>> value = loss(output, target, groups=[0, 1, 0, 1])
    >>> value.backward()
    >>> bool(torch.isfinite(output.grad).all())
    True
    """

    def __init__(
        self, *, a=3.0, b=1.28, luminosity=1.0, formula="paper", hypothesis_weights=None
    ):
        super().__init__()
        if formula not in FORMULAS:
            raise ValueError(f"formula must be one of {FORMULAS}, got {formula!r}.")
        self.a = a
        self.b = b
        self.luminosity = luminosity
        self.formula = formula
        self.hypothesis_weights = hypothesis_weights

    def window_sums(self, output, target, sample_weight=None, groups=None, *, scale=1):
        """Efficiency and background per hypothesis, shape (n_hypotheses,) each.

        Parameters
        ----------
        output : torch.Tensor of shape (n_events,)
            Signal probability of each event (the sigmoid output).
        target : array-like or torch.Tensor of shape (n_events,)
            1 for signal events, 0 for background.
        sample_weight : array-like or torch.Tensor of shape (n_events,), default=None
            Per-event scale factors; ``None`` means 1.
        groups : None, array-like or sparse matrix, default=None
            Window membership, as in :meth:`PunziClassifier.fit`.
        scale : float, default=1
            Factor applied to both sums, e.g. the number of mini-batches, so
            that a batch estimates the full-sample sums.

        Returns
        -------
        efficiency, background : torch.Tensor
        """
        output = output.reshape(-1)
        n_events = output.shape[0]
        is_signal = _to_numpy(target).reshape(-1).astype(bool)
        if is_signal.shape[0] != n_events:
            raise ValueError(
                f"target has {is_signal.shape[0]} entries but output has {n_events}."
            )
        windows = check_groups(_to_numpy(groups), n_events)
        index = WindowIndex(windows, is_signal, device=output.device)

        if sample_weight is None:
            values = output
        else:
            weight = torch.as_tensor(
                sample_weight, dtype=output.dtype, device=output.device
            ).reshape(-1)
            values = output * weight
        efficiency, background = window_sums(values, index.key, index)
        return efficiency * scale, background * scale

    def forward(self, output, target, sample_weight=None, groups=None, *, scale=1):
        """Mean sensitivity over hypotheses; parameters as :meth:`window_sums`.

        Returns
        -------
        loss : torch.Tensor
            Scalar, differentiable with respect to ``output``.
        """
        efficiency, background = self.window_sums(
            output, target, sample_weight, groups, scale=scale
        )
        with torch.no_grad():
            has_signal, _ = self.window_sums(
                torch.ones_like(output), target, sample_weight, groups
            )
        weights = self._hypothesis_weights(efficiency.shape[0], output)
        weights = torch.where(has_signal > 0, weights, torch.zeros_like(weights))
        if not bool((weights > 0).any()):
            raise ValueError(
                "No hypothesis window holds signal events with positive weight: "
                "the Punzi-loss has nothing to optimise."
            )
        return mean_sensitivity(
            efficiency,
            background,
            weights,
            a=self.a,
            b=self.b,
            luminosity=self.luminosity,
            formula=self.formula,
        )

    def _hypothesis_weights(self, n_hypotheses, like):
        if self.hypothesis_weights is None:
            return torch.ones(n_hypotheses, dtype=like.dtype, device=like.device)
        weights = torch.as_tensor(
            self.hypothesis_weights, dtype=like.dtype, device=like.device
        ).reshape(-1)
        if weights.shape[0] != n_hypotheses:
            raise ValueError(
                f"hypothesis_weights has {weights.shape[0]} entries but groups "
                f"describe {n_hypotheses} hypotheses."
            )
        return weights


def _to_numpy(values):
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    if values is None or hasattr(values, "tocoo"):
        return values
    return np.asarray(values)
