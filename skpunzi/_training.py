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
from ._network import ColumnInputs, chunked_logits
from ._progress import ProgressBar

__all__ = [
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
    per-event output gradients and backpropagates one chunk at a time. Memory
    stays proportional to the chunk, and no (events x hypotheses) array is
    ever built. Batches small enough for one chunk take the direct autograd
    path instead (one forward pass).

    Parameters
    ----------
    inputs : RowInputs or ColumnInputs
        Features of the training events (already shuffled).
    weight : torch.Tensor
        Physics weights of the training events.
    index : WindowIndex
        Window pairs of the training events.
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
    ):
        self.inputs, self.weight, self.index = inputs, weight, index
        self.loss_kwargs = loss_kwargs
        self.chunk_size = chunk_size
        self.generator = generator
        self.validation = validation
        self.bounds = _split_bounds(len(inputs), batch_size)
        self.n_batches = len(self.bounds) - 1

        # The paper multiplies every mini-batch sum by the number of batches:
        # the mean of the scaled batch sums is then exactly the full sum.
        self.scale = self.n_batches * sample_scale

        # A hypothesis without signal in a batch cannot be scored there; it
        # is left out of that batch's mean rather than floored to a huge value.
        self.batch_weights = []
        for batch in range(self.n_batches):
            start, stop, event, target = self._pairs(batch)
            self.batch_weights.append(
                present_hypotheses(
                    hypothesis_weights, self.weight[start:stop], event, target
                )
            )

    def _pairs(self, batch):
        start, stop = self.bounds[batch], self.bounds[batch + 1]
        event, target = self.index.slice(start, stop)
        return start, stop, event, target

    def start_epoch(self):
        """The batch partition is fixed; only the order of batches changes."""
        order = torch.randperm(self.n_batches, generator=self.generator)
        return order.tolist()

    def step(self, network, batch):
        """Loss of one batch; gradients are accumulated into the network."""
        start, stop, event, target = self._pairs(batch)
        weight = self.weight[start:stop]
        hypothesis_weights = self.batch_weights[batch]
        if not bool((hypothesis_weights > 0).any()):
            return math.nan, 0

        # A tanh network in the column layout has its backward pass written
        # out: one forward pass that keeps the layer inputs, no autograd.
        manual = isinstance(self.inputs, ColumnInputs) and getattr(
            network, "supports_manual_backward", False
        )
        if not manual and stop - start <= self.chunk_size:
            probability = torch.sigmoid(self.inputs.forward(network, start, stop))
            values = (weight * probability).double()
            loss = self._loss(values, event, target, self.scale, hypothesis_weights)
            loss.backward()
            return loss.item(), stop - start

        # Pass 1: the per-window sums, without autograd.
        chunks = [
            (first, min(first + self.chunk_size, stop))
            for first in range(start, stop, self.chunk_size)
        ]
        if manual:
            outputs = [
                network.forward_columns_cached(self.inputs.X[:, first:last])
                for first, last in chunks
            ]
            logits = torch.cat([chunk_logits for chunk_logits, _ in outputs])
        else:
            logits = chunked_logits(self.inputs, network, start, stop, self.chunk_size)
        probability = torch.sigmoid(logits)
        weighted = weight * probability

        # Sums over millions of events accumulate in float64.
        efficiency, background = window_sums(
            weighted.double(), event, target, self.index.n_hypotheses
        )

        # The loss as a function of the 2 x n_hypotheses sums alone (autograd
        # through the per-pair gather would keep 8 bytes per pair alive).
        n_hyp = self.index.n_hypotheses
        sums = torch.cat([efficiency, background]).requires_grad_(True)
        loss = self._sensitivity(
            sums[:n_hyp], sums[n_hyp:], self.scale, hypothesis_weights
        )
        (grad_sums,) = torch.autograd.grad(loss, sums)

        # Pass 2: d(loss)/d(logit_i) = w_i p_i (1 - p_i) * sum over the
        # windows of event i of d(loss)/d(sum), then backpropagate by chunk.
        grad_events = torch.zeros(
            weight.shape[0], dtype=grad_sums.dtype, device=weight.device
        ).index_add_(0, event, grad_sums[target])
        grad_logits = grad_events.to(weight.dtype).mul_(weighted).mul_(1 - probability)
        for index, (first, last) in enumerate(chunks):
            chunk_grad = grad_logits[first - start : last - start]
            if manual:
                network.backward_columns(outputs[index][1], chunk_grad)
            else:
                self.inputs.forward(network, first, last).backward(chunk_grad)
        return loss.item(), stop - start

    def _loss(self, values, event, target, scale, hypothesis_weights):
        """Mean sensitivity of the window sums of ``values`` (``w * p``)."""
        efficiency, background = window_sums(
            values, event, target, self.index.n_hypotheses
        )
        return self._sensitivity(efficiency, background, scale, hypothesis_weights)

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
            loss = self._loss(
                values, index.event, index.target, scale, hypothesis_weights
            )
        return loss.item()

    def validation_loss(self, network):
        """Punzi-loss on the validation events, or ``None`` without them."""
        if self.validation is None:
            return None
        return self.full_loss(network, *self.validation)

    def outputs_finite(self, network):
        """Whether the network's output is finite on every training event."""
        return _outputs_finite(self.inputs, network, self.chunk_size)


def present_hypotheses(hypothesis_weights, weight, event, target):
    """``hypothesis_weights``, zero where the events hold no signal weight.

    A hypothesis without signal in a sample cannot be scored there; it is
    left out of that sample's mean rather than floored to a huge value.
    """
    signal_weight, _ = window_sums(
        weight.double(), event, target, hypothesis_weights.shape[0]
    )
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
