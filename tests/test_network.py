import pytest
import torch

from skpunzi._network import HIDDEN_FORMS, MLP, ScaledNetwork, hidden_form


@pytest.mark.parametrize("form", HIDDEN_FORMS)
def test_cached_forward_equals_forward_in_both_forms(form):
    torch.manual_seed(0)
    network = MLP(4, hidden_layer_sizes=(8, 6, 4))
    X = torch.randn(4, 300) * 3
    activations = [torch.empty(width, 300) for width in network.column_widths(4)]

    logits = network.forward_columns_cached(X, activations, form)

    with torch.no_grad():
        expected = network(X.T)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    hidden = activations[1]
    if form == "tanh":
        assert hidden.min() >= -1 and hidden.max() <= 1 and hidden.min() < 0
    else:
        assert hidden.min() >= 0 and hidden.max() <= 1


def test_scaled_network_passes_the_form_on():
    torch.manual_seed(1)
    network = ScaledNetwork(
        MLP(3), torch.tensor([1.0, 2, 3]), torch.tensor([2.0, 1, 4])
    )
    X = torch.randn(3, 50) * 5 + 2
    activations = [torch.empty(width, 50) for width in network.column_widths(3)]
    results = [
        network.forward_columns_cached(X, activations, form).clone()
        for form in HIDDEN_FORMS
    ]
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-5)


def test_unknown_form_is_rejected():
    network = MLP(2)
    activations = [torch.empty(width, 5) for width in network.column_widths(2)]
    with pytest.raises(ValueError, match="form must be one of"):
        network.forward_columns_cached(torch.zeros(2, 5), activations, "relu")
    with pytest.raises(ValueError, match="form must be one of"):
        network.backward_columns(activations, torch.zeros(5), form="exp")


def test_hidden_form_is_measured_once_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv("SKPUNZI_HIDDEN_FORM", raising=False)
    measured = hidden_form("cpu")
    assert measured in HIDDEN_FORMS
    # Measured once per process: the answer cannot flip within a session.
    assert all(hidden_form(torch.device("cpu")) == measured for _ in range(5))

    for form in HIDDEN_FORMS:
        monkeypatch.setenv("SKPUNZI_HIDDEN_FORM", form)
        assert hidden_form("cpu") == form

    monkeypatch.setenv("SKPUNZI_HIDDEN_FORM", "fast")
    with pytest.raises(ValueError, match="SKPUNZI_HIDDEN_FORM must be"):
        hidden_form("cpu")
