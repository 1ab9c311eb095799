"""The feed-forward network and the input scaling wrapped around any network."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "ColumnInputs",
    "RowInputs",
    "ScaledNetwork",
    "build_network",
    "chunked_logits",
    "network_logits",
    "training_inputs",
]

#: Hidden-layer activations accepted by ``PunziClassifier(activation=...)``.
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "logistic": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


class MLP(nn.Module):
    """Fully connected network returning one logit per event.

    The sigmoid that turns the logit into a signal probability is applied by
    the caller, so that the decision function (the output before the sigmoid)
    stays available.

    Parameters
    ----------
    n_features : int
        Number of input features.
    hidden_layer_sizes : tuple of int, default=(8, 4)
        Units per hidden layer.
    activation : str, default="tanh"
        Name of the hidden-layer activation, a key of ``ACTIVATIONS``.
    """

    def __init__(self, n_features, hidden_layer_sizes=(8, 4), activation="tanh"):
        super().__init__()
        layers = []
        width = n_features
        for units in hidden_layer_sizes:
            layers += [nn.Linear(width, units), ACTIVATIONS[activation]()]
            width = units
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        """Logits of shape (n_events,)."""
        return self.layers(x).squeeze(-1)

    #: :meth:`forward_columns` is available (see :func:`training_inputs`).
    supports_columns = True

    def forward_columns(self, x_columns):
        """Logits for features stored one row per feature, shape (n_features, n).

        The same computation as :meth:`forward` on ``x_columns.T``. With only a
        handful of features, a row per event wastes most of each cache line
        and SIMD register; a row per feature keeps every operation a long
        contiguous stream, which is several times faster for this network.
        """
        hidden = x_columns
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                hidden = torch.addmm(layer.bias.unsqueeze(1), layer.weight, hidden)
            else:
                hidden = layer(hidden)
        return hidden.squeeze(0)

    @property
    def supports_manual_backward(self):
        """Whether :meth:`backward_columns` applies (tanh hidden layers only)."""
        return all(isinstance(layer, (nn.Linear, nn.Tanh)) for layer in self.layers)

    def forward_columns_cached(self, x_columns):
        """:meth:`forward_columns` without autograd, keeping each layer's input.

        Returns
        -------
        logits : torch.Tensor of shape (n,)
        cache : list of torch.Tensor
            The input of every linear layer, for :meth:`backward_columns`.
        """
        with torch.no_grad():
            cache, hidden = [], x_columns
            for layer in self.layers:
                if isinstance(layer, nn.Linear):
                    cache.append(hidden)
                    hidden = torch.addmm(layer.bias.unsqueeze(1), layer.weight, hidden)
                else:
                    # tanh(a) = 2 sigmoid(2a) - 1, in place: torch's sigmoid
                    # is about three times faster than its tanh on CPUs, and
                    # this is most of the cost. Differs from torch.tanh by
                    # at most 2e-7.
                    hidden = hidden.mul_(2).sigmoid_().mul_(2).sub_(1)
        return hidden.squeeze(0), cache

    def backward_columns(self, cache, grad_logits):
        """Accumulate parameter gradients for d(loss)/d(logits) by hand.

        The backward pass of a tanh network written out: with the layer
        inputs kept by :meth:`forward_columns_cached`, no second forward pass
        and no autograd graph are needed. Tested against autograd.
        """
        linears = [layer for layer in self.layers if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            delta = grad_logits.unsqueeze(0)
            for depth in range(len(linears) - 1, -1, -1):
                layer, layer_input = linears[depth], cache[depth]
                _accumulate(layer.weight, delta @ layer_input.T)
                _accumulate(layer.bias, delta.sum(dim=1))
                if depth:
                    # tanh'(a) = 1 - tanh(a)^2, and the input is tanh(a).
                    delta = (layer.weight.T @ delta).mul_(1 - layer_input * layer_input)


def _accumulate(parameter, gradient):
    if parameter.grad is None:
        parameter.grad = gradient.clone()
    else:
        parameter.grad += gradient


class ScaledNetwork(nn.Module):
    """A network with its input scaling stored as buffers.

    Keeping the scaling inside the module makes the fitted network
    self-contained: it can be saved with ``torch.save`` or exported without
    the estimator, and predicts from raw features.

    Parameters
    ----------
    network : torch.nn.Module
        Maps float tensors of shape (n_events, n_features) to logits.
    offset, scale : torch.Tensor of shape (n_features,)
        The network sees ``(x - offset) / scale``.
    """

    def __init__(self, network, offset, scale):
        super().__init__()
        self.network = network
        self.register_buffer("offset", offset)
        self.register_buffer("scale", scale)

    def forward(self, x):
        """Logits of shape (n_events,) for raw features ``x``."""
        logits = self.network((x - self.offset) / self.scale)
        return logits.reshape(-1)

    @property
    def supports_columns(self):
        """Whether :meth:`forward_columns` is available for the inner network."""
        return hasattr(self.network, "forward_columns")

    def forward_columns(self, x_columns):
        """Logits for raw features stored one row per feature."""
        return self.network.forward_columns(self._scale_columns(x_columns))

    def _scale_columns(self, x_columns):
        return (x_columns - self.offset.unsqueeze(1)) / self.scale.unsqueeze(1)

    @property
    def supports_manual_backward(self):
        """Whether the inner network has a hand-written backward pass."""
        return getattr(self.network, "supports_manual_backward", False)

    def forward_columns_cached(self, x_columns):
        """See :meth:`MLP.forward_columns_cached`."""
        with torch.no_grad():
            scaled = self._scale_columns(x_columns)
        return self.network.forward_columns_cached(scaled)

    def backward_columns(self, cache, grad_logits):
        """See :meth:`MLP.backward_columns`."""
        self.network.backward_columns(cache, grad_logits)


def build_network(module, module_kwargs, n_features, hidden_layer_sizes, activation):
    """Instantiate the user's network factory, or the default :class:`MLP`."""
    if module is None:
        return MLP(n_features, tuple(hidden_layer_sizes), activation)

    network = module(n_features, **(module_kwargs or {}))
    if not isinstance(network, nn.Module):
        raise TypeError(
            "module must be a torch.nn.Module subclass or a factory returning one, "
            f"called as module(n_features, **module_kwargs); got {network!r}."
        )
    return network


class RowInputs:
    """Training events stored one row per event; works with any network."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return self.X.shape[0]

    def permute(self, order):
        """Reorder the events (one gather)."""
        self.X = self.X[order]

    def forward(self, network, start, stop):
        """Logits of the events ``start:stop``, with autograd."""
        return network(self.X[start:stop]).reshape(-1)


class ColumnInputs(RowInputs):
    """Training events stored one row per feature, for networks that support it.

    See :meth:`MLP.forward_columns` for why this layout is faster.
    """

    def __init__(self, X):
        self.X = X.T.contiguous()

    def __len__(self):
        return self.X.shape[1]

    def permute(self, order):
        """Reorder the events (one gather)."""
        self.X = self.X[:, order]

    def forward(self, network, start, stop):
        """Logits of the events ``start:stop``, with autograd."""
        return network.forward_columns(self.X[:, start:stop])


def training_inputs(network, X):
    """The fastest storage of ``X`` that ``network`` can consume."""
    if getattr(network, "supports_columns", False):
        return ColumnInputs(X)
    return RowInputs(X)


def chunked_logits(inputs, network, start, stop, chunk_size):
    """Logits of the events ``start:stop`` by chunks, without autograd."""
    with torch.no_grad():
        return torch.cat(
            [
                inputs.forward(network, first, min(first + chunk_size, stop))
                for first in range(start, stop, chunk_size)
            ]
        )


def network_logits(network, x, chunk_size):
    """Logits for all rows of ``x``, computed chunk by chunk without autograd."""
    with torch.no_grad():
        if x.shape[0] <= chunk_size:
            return network(x).reshape(-1)
        return torch.cat(
            [network(chunk).reshape(-1) for chunk in torch.split(x, chunk_size)]
        )
