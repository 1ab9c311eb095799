"""The feed-forward network and the input scaling wrapped around any network."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import time

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "HIDDEN_FORMS",
    "MLP",
    "ColumnInputs",
    "RowInputs",
    "ScaledNetwork",
    "build_network",
    "chunked_logits",
    "hidden_form",
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


#: Ways the hand-written backward of a tanh :class:`MLP` can store its hidden
#: layers (see :func:`hidden_form`).
HIDDEN_FORMS = ("tanh", "sigmoid")


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

    def column_widths(self, n_features):
        """Rows of each activation :meth:`forward_columns_cached` writes.

        The input, every hidden layer, and the logits, in that order.
        """
        widths = [n_features]
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                widths.append(layer.out_features)
        return widths

    def forward_columns_cached(self, x_columns, activations, form="tanh"):
        """:meth:`forward_columns` into preallocated activations, no autograd.

        Parameters
        ----------
        x_columns : torch.Tensor of shape (n_features, n)
            Input, copied into ``activations[0]`` unless it is that tensor.
        activations : list of torch.Tensor
            One tensor of shape (width, n) per entry of
            :meth:`column_widths`, overwritten with the input, every hidden
            layer's output and the logits, which :meth:`backward_columns`
            needs. Writing into buffers that live across steps avoids
            allocating (and page-faulting) fresh memory for every chunk.
        form : {"tanh", "sigmoid"}, default="tanh"
            How the hidden layers are evaluated and stored (see
            :func:`hidden_form`): ``"tanh"`` stores ``tanh(a)``,
            ``"sigmoid"`` stores ``s = sigmoid(2a) = (1 + tanh(a)) / 2``.
            :meth:`backward_columns` must be given the same form.

        Returns
        -------
        logits : torch.Tensor of shape (n,)
            A view of the last activation.

        Notes
        -----
        In the sigmoid form the factor 2 and the shift of
        ``tanh(a) = 2 sigmoid(2a) - 1`` are folded into the (tiny) weights of
        the next layer, ``W tanh(a) + b = 2 W s + (b - W 1)``, so that either
        form costs one matrix product and one elementwise pass per hidden
        layer. Both differ from the autograd forward pass by float32 rounding
        only.
        """
        _check_form(form)
        linears = [layer for layer in self.layers if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            if x_columns is not activations[0]:
                activations[0].copy_(x_columns)
            for depth, layer in enumerate(linears):
                weight, bias = layer.weight, layer.bias.unsqueeze(1)
                if depth and form == "sigmoid":
                    # The input is s = (1 + tanh) / 2 of the previous layer.
                    weight, bias = 2 * weight, bias - weight.sum(dim=1, keepdim=True)
                output = activations[depth + 1]
                hidden = depth + 1 < len(linears)
                if hidden and form == "sigmoid":
                    # output = sigmoid(2 a), a = weight @ input + bias.
                    torch.addmm(
                        bias, weight, activations[depth], beta=2, alpha=2, out=output
                    )
                    output.sigmoid_()
                else:
                    torch.addmm(bias, weight, activations[depth], out=output)
                    if hidden:
                        output.tanh_()
        return activations[-1][0]

    def backward_columns(self, activations, grad_logits, deltas=None, form="tanh"):
        """Accumulate parameter gradients for d(loss)/d(logits) by hand.

        The backward pass of a tanh network written out: with the activations
        kept by :meth:`forward_columns_cached`, no second forward pass and no
        autograd graph are needed. Tested against autograd.

        Parameters
        ----------
        activations : list of torch.Tensor
            As left by :meth:`forward_columns_cached`; the hidden ones are
            overwritten (each chunk is backpropagated once).
        grad_logits : torch.Tensor of shape (n,)
        deltas : list of torch.Tensor, default=None
            Buffers of shape (width, n) for the gradient with respect to each
            hidden layer's pre-activation; allocated when ``None``.
        form : {"tanh", "sigmoid"}, default="tanh"
            The form :meth:`forward_columns_cached` stored the activations in.
        """
        _check_form(form)
        linears = [layer for layer in self.layers if isinstance(layer, nn.Linear)]
        minus_one, one = grad_logits.new_tensor(-1.0), grad_logits.new_tensor(1.0)
        with torch.no_grad():
            delta = grad_logits.unsqueeze(0)
            for depth in range(len(linears) - 1, -1, -1):
                layer, layer_input = linears[depth], activations[depth]
                if depth and form == "sigmoid":
                    # Back from s = (1 + tanh) / 2 to tanh = 2 s - 1, in place.
                    torch.add(minus_one, layer_input, alpha=2, out=layer_input)
                # (input @ delta.T).T is faster than delta @ input.T here.
                _accumulate(layer.weight, torch.mm(layer_input, delta.T).T)
                _accumulate(layer.bias, delta.sum(dim=1))
                if depth:
                    below = (
                        torch.empty_like(layer_input)
                        if deltas is None
                        else deltas[depth - 1]
                    )
                    torch.mm(layer.weight.T, delta, out=below)
                    # tanh'(a) = 1 - tanh(a)^2, in place over the input.
                    torch.addcmul(
                        one, layer_input, layer_input, value=-1, out=layer_input
                    )
                    delta = below.mul_(layer_input)


def _check_form(form):
    if form not in HIDDEN_FORMS:
        raise ValueError(f"form must be one of {HIDDEN_FORMS}, got {form!r}.")


_chosen_forms = {}


def hidden_form(device):
    """The faster way to evaluate tanh hidden layers on ``device``.

    ``tanh(a)`` can be computed by torch's tanh or as ``2 sigmoid(2a) - 1``
    (see :meth:`MLP.forward_columns_cached`). Which kernel is faster depends
    on the CPU and on the instruction set torch dispatches to: on one of our
    development machines sigmoid was three times faster than tanh, on
    another (AVX-512) tanh was 1.3 times faster than sigmoid, and eleven
    times faster on saturated units (sigmoid inputs above about 88, where
    its ``exp(-x)`` is a denormal number). The hidden activations are most
    of the cost of a Punzi-loss step, so the choice is measured once per
    process and device type, on a buffer of the training chunk's shape (a
    few milliseconds).

    The sigmoid form is chosen only when it is at least twice as fast, so
    the choice does not flip between runs on the same machine. The
    environment variable ``SKPUNZI_HIDDEN_FORM`` (``"tanh"`` or
    ``"sigmoid"``) overrides the measurement. The two forms differ by
    float32 rounding only.

    Parameters
    ----------
    device : torch.device or str

    Returns
    -------
    form : {"tanh", "sigmoid"}
    """
    requested = os.environ.get("SKPUNZI_HIDDEN_FORM", "auto")
    if requested != "auto":
        if requested not in HIDDEN_FORMS:
            raise ValueError(
                "The environment variable SKPUNZI_HIDDEN_FORM must be 'auto', "
                f"'tanh' or 'sigmoid', got {requested!r}."
            )
        return requested

    device_type = torch.device(device).type
    if device_type not in _chosen_forms:
        # On accelerators both kernels are far from the bottleneck.
        _chosen_forms[device_type] = (
            _time_hidden_forms() if device_type == "cpu" else "tanh"
        )
    return _chosen_forms[device_type]


def _time_hidden_forms(n_events=65536, repeat=5):
    """Return "sigmoid" if torch's sigmoid beats its tanh by 2x or more here."""
    buffer = torch.linspace(-3.0, 3.0, 8 * n_events).reshape(8, n_events)
    output = torch.empty_like(buffer)
    best = {"tanh": float("inf"), "sigmoid": float("inf")}
    kernels = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}
    for _ in range(repeat):
        for form, kernel in kernels.items():
            start = time.perf_counter()
            kernel(buffer, out=output)
            best[form] = min(best[form], time.perf_counter() - start)
    return "sigmoid" if 2 * best["sigmoid"] <= best["tanh"] else "tanh"


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

    def column_widths(self, n_features):
        """See :meth:`MLP.column_widths`."""
        return self.network.column_widths(n_features)

    def forward_columns_cached(self, x_columns, activations, form="tanh"):
        """Scale raw features into ``activations[0]``, then as the inner network.

        See :meth:`MLP.forward_columns_cached`.
        """
        with torch.no_grad():
            scaled = torch.sub(x_columns, self.offset.unsqueeze(1), out=activations[0])
            scaled.div_(self.scale.unsqueeze(1))
        return self.network.forward_columns_cached(scaled, activations, form)

    def backward_columns(self, activations, grad_logits, deltas=None, form="tanh"):
        """See :meth:`MLP.backward_columns`."""
        self.network.backward_columns(activations, grad_logits, deltas, form)


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
