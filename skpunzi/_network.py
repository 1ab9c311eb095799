"""The feed-forward network and the input scaling wrapped around any network."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "ScaledNetwork", "build_network"]

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


def network_logits(network, x, chunk_size):
    """Logits for all rows of ``x``, computed chunk by chunk without autograd."""
    with torch.no_grad():
        if x.shape[0] <= chunk_size:
            return network(x).reshape(-1)
        return torch.cat(
            [network(chunk).reshape(-1) for chunk in torch.split(x, chunk_size)]
        )
