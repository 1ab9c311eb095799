"""The training loop shared by BCE pretraining and Punzi-loss fine-tuning.

A phase is an *objective* (how one mini-batch turns into a loss and gradients)
run by :func:`run_phase` (epochs, optimiser, learning-rate schedule, recovery
from non-finite losses, best-state tracking, Ctrl-C). Both phases use the same
loop, so every safeguard exists once.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from ._loss import mean_sensitivity, window_sums
from ._network import ColumnInputs, chunked_logits, hidden_form
from ._progress import ProgressBar

__all__ = [
    "ActivationCache",
    "BCEObjective",
    "PhaseConfig",
    "PhaseResult",
    "PunziObjective",
    "TrainingInterrupted",
    "run_phase",
]

# Non-finite epochs after which a phase gives up.
_MAX_RECOVERIES = 8


class TrainingInterrupted(Exception):
    """Raised by :func:`run_phase` after Ctrl-C, once the best state is restored."""


@dataclass
class PhaseConfig:
    """How one phase is run (everything but the objective)."""

    name: str
    max_epochs: int
    learning_rate: float
    optimizer: str = "adam"
    lr_patience: int = 10
    lr_factor: float = 0.5
    early_stopping: bool = False
    n_iter_no_change: int = 50
    tol: float = 0.0
    restore_best: bool = False
    verbose: int = 0


@dataclass
class PhaseResult:
    """What a phase leaves behind for the estimator's fitted attributes."""

    history: list = field(default_factory=list)
    n_epochs: int = 0
    best_loss: float = math.inf
    stopped_early: bool = False
    n_recoveries: int = 0


def _split_bounds(n_events, batch_size):
    """Boundaries of near-equal contiguous batches (the last is not a runt)."""
    n_batches = max(1, math.ceil(n_events / (batch_size or n_events)))
    return np.linspace(0, n_events, n_batches + 1).round().astype(np.int64)


class BCEObjective:
    """Class-balanced weighted binary cross-entropy on contiguous batches.

    The data are reshuffled once per epoch (one gather), and batches are then
    contiguous slices, which is much cheaper than fancy indexing every step.
    """

    def __init__(self, inputs, y, weight, batch_size, generator):
        self.inputs, self.y, self.weight = inputs, y, weight
        self.bounds = _split_bounds(len(inputs), batch_size)
        self.generator = generator
        self.n_batches = len(self.bounds) - 1

    def start_epoch(self):
        """Reshuffle the events; returns the order in which batches are run."""
        if self.n_batches > 1:
            order = torch.randperm(len(self.inputs), generator=self.generator)
            order = order.to(self.y.device)
            self.inputs.permute(order)
            self.y, self.weight = self.y[order], self.weight[order]
        return range(self.n_batches)

    def step(self, network, batch):
        """Loss of one batch; gradients are accumulated into the network."""
        start, stop = self.bounds[batch], self.bounds[batch + 1]
        weight = self.weight[start:stop]
        logits = self.inputs.forward(network, start, stop)
        loss = F.binary_cross_entropy_with_logits(
            logits, self.y[start:stop], weight=weight, reduction="sum"
        ) / weight.sum().clamp_min(1e-12)
        loss.backward()
        return loss.item(), stop - start

    def validation_loss(self, network):
        """Pretraining monitors its training loss only."""
        return None

    def outputs_finite(self, network):
        """Whether the network's output is finite on every training event."""
        return _outputs_finite(self.inputs, network)


class PunziObjective:
    """Exact Punzi-loss gradients, computed chunk by chunk.

    The loss depends on the events only through two sums per hypothesis.
    A first pass without autograd accumulates them; the loss then gives
    d(loss)/d(sum) for every window; a second pass turns these into
    per-event output gradients and backpropagates one chunk at a time. No
    (events x hypotheses) array is ever built, and the sums go through the
    keys of :class:`WindowIndex` (one scatter over events, not over every
    (event, window) pair).

    For a network with a hand-written backward pass (the default tanh MLP in
    the column layout), the first pass writes every layer's activations into
    a preallocated :class:`ActivationCache` that the second pass reads;
    chunks beyond the cache's memory budget are recomputed. Other networks
    take one autograd pass when the batch fits in a chunk and otherwise
    recompute each chunk's forward pass under autograd in the second pass.

    Parameters
    ----------
    inputs : RowInputs or ColumnInputs
        Features of the training events (already shuffled).
    weight : torch.Tensor
        Physics weights of the training events.
    index : WindowIndex
        Window keys of the training events.
    hypothesis_weights : torch.Tensor of shape (n_hypotheses,)
        Weight of each hypothesis in the mean; 0 leaves it out.
    loss_kwargs : dict
        ``a``, ``b``, ``luminosity`` and ``formula``.
    batch_size : int or None
        Events per mini-batch; ``None`` means the full sample.
    sample_scale : float
        Ratio of the events the weights describe to the training events (more
        than 1 when a validation split was taken out).
    chunk_size : int
        Events per forward/backward chunk.
    validation : tuple or None
        ``(inputs, weight, index, scale, hypothesis_weights)`` of the
        validation events.
    cache_bytes : int, default=256 MiB
        Memory budget of the :class:`ActivationCache`.
    """

    def __init__(
        self,
        inputs,
        weight,
        index,
        hypothesis_weights,
        loss_kwargs,
        batch_size,
        sample_scale,
        chunk_size,
        generator,
        validation=None,
        cache_bytes=256 * 2**20,
    ):
        self.inputs, self.weight, self.index = inputs, weight, index
        self.cache_bytes = cache_bytes
        self.loss_kwargs = loss_kwargs
        self.chunk_size = chunk_size
        self.generator = generator
        self.validation = validation
        self.bounds = _split_bounds(len(inputs), batch_size)
        self.n_batches = len(self.bounds) - 1
        self.cache = None
        self.hidden_form = hidden_form(weight.device)

        # The paper multiplies every mini-batch sum by the number of batches:
        # the mean of the scaled batch sums is then exactly the full sum.
        self.scale = self.n_batches * sample_scale

        # A hypothesis without signal in a batch cannot be scored there; it
        # is left out of that batch's mean rather than floored to a huge value.
        self.batch_weights = [
            present_hypotheses(
                hypothesis_weights,
                self.weight[start:stop],
                self.index.key[start:stop],
                self.index,
            )
            for start, stop in zip(self.bounds[:-1], self.bounds[1:], strict=True)
        ]

    def start_epoch(self):
        """The batch partition is fixed; only the order of batches changes."""
        order = torch.randperm(self.n_batches, generator=self.generator)
        return order.tolist()

    def step(self, network, batch):
        """Loss of one batch; gradients are accumulated into the network."""
        start, stop = self.bounds[batch], self.bounds[batch + 1]
        hypothesis_weights = self.batch_weights[batch]
        if not bool((hypothesis_weights > 0).any()):
            return math.nan, 0

        # A tanh network in the column layout has its backward pass written
        # out: one forward pass that keeps the activations, no autograd.
        if isinstance(self.inputs, ColumnInputs) and getattr(
            network, "supports_manual_backward", False
        ):
            loss = self._manual_step(network, start, stop, hypothesis_weights)
        elif stop - start <= self.chunk_size:
            loss = self._direct_step(network, start, stop, hypothesis_weights)
        else:
            loss = self._autograd_step(network, start, stop, hypothesis_weights)
        return loss, stop - start

    def _chunks(self, start, stop):
        return [
            (first, min(first + self.chunk_size, stop))
            for first in range(start, stop, self.chunk_size)
        ]

    def _manual_step(self, network, start, stop, hypothesis_weights):
        """Two passes over preallocated activations, backward by hand."""
        X, weight, key = self.inputs.X, self.weight, self.index.key
        cache = self._activation_cache(network)
        chunks = self._chunks(start, stop)

        # Pass 1: sums per key, accumulated in float64 (millions of events).
        key_sums = torch.zeros(self.index.n_keys, dtype=torch.float64, device=X.device)
        for number, (first, last) in enumerate(chunks):
            activations, _ = cache.chunk(number, last - first)
            logits = network.forward_columns_cached(
                X[:, first:last], activations, self.hidden_form
            )
            values = torch.sigmoid(logits).mul_(weight[first:last])
            key_sums.index_add_(0, key[first:last], values.double())

        loss, grad_keys = self._loss_and_key_gradients(key_sums, hypothesis_weights)
        grad_keys = grad_keys.to(weight.dtype)

        # Pass 2: d(loss)/d(logit_i) = w_i p_i (1 - p_i) d(loss)/d(sum of the
        # key of event i); chunks that did not fit the cache are recomputed.
        for number, (first, last) in enumerate(chunks):
            activations, cached = cache.chunk(number, last - first)
            if not cached:
                network.forward_columns_cached(
                    X[:, first:last], activations, self.hidden_form
                )
            probability = torch.sigmoid(activations[-1][0])
            grad_logits = grad_keys.index_select(0, key[first:last])
            grad_logits.mul_(weight[first:last]).mul_(probability)
            grad_logits.mul_(probability.neg_().add_(1))
            network.backward_columns(
                activations, grad_logits, cache.deltas(last - first), self.hidden_form
            )
        return loss

    def _activation_cache(self, network):
        if self.cache is None:
            self.cache = ActivationCache(
                network.column_widths(self.inputs.X.shape[0]),
                int(np.diff(self.bounds).max()),
                self.chunk_size,
                self.inputs.X.dtype,
                self.inputs.X.device,
                self.cache_bytes,
            )
        return self.cache

    def _direct_step(self, network, start, stop, hypothesis_weights):
        """One autograd pass over a batch that fits in a chunk."""
        probability = torch.sigmoid(self.inputs.forward(network, start, stop))
        values = (self.weight[start:stop] * probability).double()
        efficiency, background = window_sums(
            values, self.index.key[start:stop], self.index
        )
        loss = self._sensitivity(efficiency, background, self.scale, hypothesis_weights)
        loss.backward()
        return loss.item()

    def _autograd_step(self, network, start, stop, hypothesis_weights):
        """Two passes for any network: the second recomputes under autograd."""
        weight, key = self.weight[start:stop], self.index.key[start:stop]
        logits = chunked_logits(self.inputs, network, start, stop, self.chunk_size)
        probability = torch.sigmoid(logits)
        weighted = weight * probability
        key_sums = torch.zeros(
            self.index.n_keys, dtype=torch.float64, device=weight.device
        ).index_add_(0, key, weighted.double())

        loss, grad_keys = self._loss_and_key_gradients(key_sums, hypothesis_weights)
        grad_logits = grad_keys.to(weight.dtype)[key].mul_(weighted)
        grad_logits.mul_(1 - probability)
        for first, last in self._chunks(start, stop):
            logits = self.inputs.forward(network, first, last)
            logits.backward(grad_logits[first - start : last - start])
        return loss

    def _loss_and_key_gradients(self, key_sums, hypothesis_weights):
        """The batch loss and its gradient with respect to the sums per key.

        Autograd runs through the key-to-window table and the sensitivity
        only: a few hundred numbers, whatever the number of events.
        """
        key_sums.requires_grad_(True)
        efficiency, background = self.index.sums(key_sums)
        loss = self._sensitivity(efficiency, background, self.scale, hypothesis_weights)
        (grad_keys,) = torch.autograd.grad(loss, key_sums)
        return loss.item(), grad_keys

    def _sensitivity(self, efficiency, background, scale, hypothesis_weights):
        """Mean sensitivity of window sums scaled to full-sample estimates."""
        return mean_sensitivity(
            efficiency * scale,
            background * scale,
            hypothesis_weights,
            **self.loss_kwargs,
        )

    def full_loss(self, network, inputs, weight, index, scale, hypothesis_weights):
        """Punzi-loss of a whole sample, without autograd."""
        with torch.no_grad():
            logits = chunked_logits(inputs, network, 0, len(inputs), self.chunk_size)
            values = (weight * torch.sigmoid(logits)).double()
            efficiency, background = window_sums(values, index.key, index)
            loss = self._sensitivity(efficiency, background, scale, hypothesis_weights)
        return loss.item()

    def validation_loss(self, network):
        """Punzi-loss on the validation events, or ``None`` without them."""
        if self.validation is None:
            return None
        return self.full_loss(network, *self.validation)

    def outputs_finite(self, network):
        """Whether the network's output is finite on every training event."""
        return _outputs_finite(self.inputs, network, self.chunk_size)


class ActivationCache:
    """Preallocated activations of a column-layout network, chunk by chunk.

    Holds the activations of as many chunks of a batch as fit in
    ``max_bytes``, plus one scratch chunk for the rest (recomputed in the
    second pass). Each chunk's activations are contiguous blocks of one
    storage, allocated once per fit: fresh tensors for every chunk would be
    page-faulted in anew at every step, which costs more than the arithmetic.

    Parameters
    ----------
    widths : list of int
        Rows of each activation (input, hidden layers, logits).
    max_events : int
        Events of the largest batch.
    chunk_size : int
    dtype, device
        Of the network's activations.
    max_bytes : int, default=256 MiB
        Memory budget of the cached chunks.
    """

    def __init__(
        self, widths, max_events, chunk_size, dtype, device, max_bytes=256 * 2**20
    ):
        self.widths = list(widths)
        self.chunk_size = min(chunk_size, max_events)
        self.block = sum(self.widths) * self.chunk_size
        item_size = torch.empty(0, dtype=dtype).element_size()
        self.n_cached = min(
            math.ceil(max_events / self.chunk_size),
            max_bytes // (item_size * self.block),
        )
        has_scratch = self.n_cached * self.chunk_size < max_events
        self.storage = torch.empty(
            (self.n_cached + has_scratch) * self.block, dtype=dtype, device=device
        )
        # Gradients with respect to the hidden pre-activations, for the
        # backward pass of one chunk at a time.
        self.delta_storage = torch.empty(
            sum(self.widths[1:-1]) * self.chunk_size, dtype=dtype, device=device
        )

    def chunk(self, number, n_events):
        """Activations of chunk ``number`` of a batch, and whether they are kept.

        Chunks beyond the budget share the scratch block, so their
        activations are overwritten by the next such chunk.
        """
        cached = number < self.n_cached
        offset = (number if cached else self.n_cached) * self.block
        return _views(self.storage, offset, self.widths, n_events), cached

    def deltas(self, n_events):
        """Buffers for the hidden layers' gradients of one chunk."""
        return _views(self.delta_storage, 0, self.widths[1:-1], n_events)


def _views(storage, offset, widths, n_events):
    """Contiguous (width, n_events) views of ``storage``, one after another."""
    views = []
    for width in widths:
        size = width * n_events
        views.append(storage[offset : offset + size].view(width, n_events))
        offset += size
    return views


def present_hypotheses(hypothesis_weights, weight, key, index):
    """``hypothesis_weights``, zero where the events hold no signal weight.

    A hypothesis without signal in a sample cannot be scored there; it is
    left out of that sample's mean rather than floored to a huge value.
    """
    signal_weight, _ = window_sums(weight.double(), key, index)
    return torch.where(
        signal_weight > 0, hypothesis_weights, torch.zeros_like(hypothesis_weights)
    )


def _outputs_finite(inputs, network, chunk_size=65536):
    logits = chunked_logits(inputs, network, 0, len(inputs), chunk_size)
    return bool(torch.isfinite(logits).all())


def _make_optimizer(name, parameters, learning_rate):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    return torch.optim.SGD(parameters, lr=learning_rate)


def _snapshot(network):
    return {key: value.detach().clone() for key, value in network.state_dict().items()}


def _parameters_finite(network):
    return all(bool(torch.isfinite(p).all()) for p in network.parameters())


def _gradients_finite(network):
    return all(
        bool(torch.isfinite(p.grad).all())
        for p in network.parameters()
        if p.grad is not None
    )


def run_phase(network, objective, config):
    """Train ``network`` on ``objective``; see :class:`PhaseConfig`.

    Returns
    -------
    result : PhaseResult

    Raises
    ------
    TrainingInterrupted
        After Ctrl-C, with the network at its best state so far.
    """
    parameters = [p for p in network.parameters() if p.requires_grad]
    optimizer = _make_optimizer(config.optimizer, parameters, config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config.lr_factor, patience=config.lr_patience
    )
    progress = ProgressBar(config.name, config.max_epochs, config.verbose)
    result = PhaseResult()
    # ``verified``: the latest parameters whose loss was computed and finite
    # (an epoch's loss is measured on the parameters it starts from, so the
    # parameters after its last step are only checked by the next epoch).
    best_state = state_at_start = verified = _snapshot(network)
    epochs_without_improvement = 0
    message = ""

    try:
        epoch = 0
        while epoch < config.max_epochs:
            state_at_start = _snapshot(network)
            loss = _run_epoch(network, objective, optimizer)
            if not (math.isfinite(loss) and _parameters_finite(network)):
                network.load_state_dict(verified)
                result.n_recoveries += 1
                if not _recover(config, optimizer, result.n_recoveries, epoch):
                    message = "stopped: the loss stayed non-finite"
                    break
                continue

            epoch += 1
            verified = state_at_start
            validation_loss = objective.validation_loss(network)
            learning_rate = optimizer.param_groups[0]["lr"]
            monitored = loss if validation_loss is None else validation_loss
            scheduler.step(monitored)
            result.history.append(
                {
                    "phase": config.name,
                    "epoch": epoch,
                    "loss": loss,
                    "validation_loss": (
                        math.nan if validation_loss is None else validation_loss
                    ),
                    "learning_rate": learning_rate,
                }
            )
            progress.update(epoch, loss, learning_rate, validation_loss)

            # Without validation the epoch's loss was measured on the
            # parameters it started from (exactly so for a full batch).
            improved = not math.isfinite(result.best_loss) or (
                monitored < result.best_loss - config.tol * abs(result.best_loss)
            )
            if improved:
                result.best_loss = monitored
                best_state = (
                    state_at_start if validation_loss is None else _snapshot(network)
                )
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
            if config.early_stopping and (
                epochs_without_improvement >= config.n_iter_no_change
            ):
                result.stopped_early = True
                message = f"stopped early after {epoch} epochs"
                break
    except KeyboardInterrupt:
        # Mid-epoch parameters are unchecked: fall back to checked ones.
        network.load_state_dict(best_state if config.restore_best else verified)
        result.n_epochs = len(result.history)
        progress.close("interrupted")
        raise TrainingInterrupted(result) from None

    if config.restore_best and result.history:
        network.load_state_dict(best_state)
    elif not objective.outputs_finite(network):
        # The last step overflowed: keep the last parameters known to work.
        network.load_state_dict(verified)
    result.n_epochs = len(result.history)
    progress.close(message)
    _warn_if_not_converged(config, result)
    return result


def _recover(config, optimizer, n_recoveries, epoch):
    """Lower the learning rate after a non-finite epoch; False to give up."""
    if n_recoveries > _MAX_RECOVERIES:
        warnings.warn(
            f"{config.name}: the loss or the parameters stayed non-finite after "
            f"{_MAX_RECOVERIES} learning-rate reductions; training stopped after "
            f"epoch {epoch} with the last finite parameters.",
            RuntimeWarning,
            stacklevel=5,
        )
        return False
    for group in optimizer.param_groups:
        group["lr"] *= config.lr_factor
    warnings.warn(
        f"{config.name}: non-finite loss, gradient or parameters in epoch "
        f"{epoch + 1}; restored the parameters it started from and lowered the "
        f"learning rate to {optimizer.param_groups[0]['lr']:.3g}.",
        RuntimeWarning,
        stacklevel=5,
    )
    return True


def _run_epoch(network, objective, optimizer):
    """One pass over the batches; the mean loss, NaN if any step failed."""
    total, n_events = 0.0, 0
    for batch in objective.start_epoch():
        optimizer.zero_grad(set_to_none=True)
        loss, size = objective.step(network, batch)
        if size == 0:
            continue
        if not math.isfinite(loss) or not _gradients_finite(network):
            return math.nan
        optimizer.step()
        total += loss * size
        n_events += size
    return total / n_events if n_events else math.nan


def _warn_if_not_converged(config, result):
    """ConvergenceWarning when the last epochs still improved markedly."""
    if result.stopped_early or result.n_epochs < 20 or not config.early_stopping:
        return
    losses = [entry["loss"] for entry in result.history]
    recent, before = np.mean(losses[-5:]), np.mean(losses[-20:-15])
    if recent < before * (1 - 1e-3):
        warnings.warn(
            f"{config.name}: stopped at max_epochs={config.max_epochs} while the "
            "loss was still falling; consider more epochs.",
            ConvergenceWarning,
            stacklevel=4,
        )
