"""The Punzi-loss: a differentiable mean Punzi sensitivity over hypotheses."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
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
    """(event, window) pairs as tensors, built once and reused every step.

    Each pair points into a vector of ``2 * n_hypotheses`` sums: the first
    half holds efficiencies (signal pairs), the second half backgrounds.

    Parameters
    ----------
    windows : Windows
        Canonical window membership from :func:`check_groups`.
    is_signal : ndarray of bool, shape (n_samples,)
    device : torch.device, default="cpu"
    """

    def __init__(self, windows, is_signal, device="cpu"):
        is_signal = np.asarray(is_signal, dtype=bool)
        target = windows.hypothesis + windows.n_hypotheses * ~is_signal[windows.event]
        self.n_hypotheses = windows.n_hypotheses
        self.event = torch.as_tensor(windows.event, dtype=torch.int64, device=device)
        self.target = torch.as_tensor(target, dtype=torch.int64, device=device)

        # Pairs are sorted by event, so the pairs of a contiguous slice of
        # events are a contiguous slice of pairs: ``pair_offsets`` finds it.
        self.pair_offsets = np.searchsorted(
            windows.event, np.arange(windows.n_samples + 1)
        )

    def slice(self, start, stop):
        """Pairs of the events ``start:stop``, with event indices made local."""
        first, last = self.pair_offsets[start], self.pair_offsets[stop]
        return self.event[first:last] - start, self.target[first:last]


def window_sums(values, event, target, n_hypotheses):
    """Efficiency and background per hypothesis as segment sums.

    Parameters
    ----------
    values : torch.Tensor of shape (n_events,)
        ``sample_weight * output`` of each event.
    event, target : torch.Tensor of shape (n_pairs,)
        Event of each pair and its slot among the ``2 * n_hypotheses`` sums.
    n_hypotheses : int

    Returns
    -------
    efficiency, background : torch.Tensor of shape (n_hypotheses,)
    """
    # index_select rather than values[event]: its backward is an index_add,
    # much faster on CPUs than the accumulating scatter of advanced indexing.
    sums = values.new_zeros(2 * n_hypotheses)
    sums = sums.index_add(0, target, values.index_select(0, event))
    return sums[:n_hypotheses], sums[n_hypotheses:]


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
        efficiency, background = window_sums(
            values, index.event, index.target, index.n_hypotheses
        )
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
