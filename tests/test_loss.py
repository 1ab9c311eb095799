import numpy as np
import pytest
import scipy.sparse as sp
import torch

from skpunzi import PunziLoss, punzi_sensitivity
from skpunzi._groups import check_groups
from skpunzi._loss import WindowIndex, window_sums
from skpunzi._network import MLP, ColumnInputs, RowInputs, hidden_form
from skpunzi._training import PunziObjective


def _events(n=60, n_hypotheses=3, seed=0):
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.3).astype(np.int64)
    weight = rng.uniform(0.1, 2.0, n)
    indicator = (rng.random((n, n_hypotheses)) < 0.5).astype(np.int8)
    # Every hypothesis gets at least one signal event.
    for h in range(n_hypotheses):
        indicator[np.flatnonzero(target)[h], h] = 1
    output = rng.uniform(0.05, 0.95, n)
    return output, target, weight, indicator


def test_matches_formula_by_hand():
    output = torch.tensor([0.9, 0.8, 0.2, 0.1], dtype=torch.float64)
    target = torch.tensor([1, 1, 0, 0])
    weight = torch.tensor([0.5, 0.5, 10.0, 20.0], dtype=torch.float64)
    loss = PunziLoss(a=3, b=1.28, luminosity=2.0)
    got = loss(output, target, weight, groups=[0, 1, 0, 1])
    expected = np.mean(
        [
            punzi_sensitivity(0.45, 2.0, a=3, b=1.28, luminosity=2.0),
            punzi_sensitivity(0.40, 2.0, a=3, b=1.28, luminosity=2.0),
        ]
    )
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("formula", ["paper", "refined"])
def test_gradcheck_float64(formula):
    output, target, weight, indicator = _events(n=25)
    output = torch.tensor(output, requires_grad=True)
    loss = PunziLoss(a=3.0, b=1.28, formula=formula)
    assert torch.autograd.gradcheck(
        lambda p: loss(p, target, weight, sp.csr_matrix(indicator)), (output,)
    )


def test_overlapping_windows_count_background_in_both():
    # One signal event in each window, one background event in both windows.
    output = torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64)
    target = [1, 1, 0]
    indicator = np.array([[1, 0], [0, 1], [1, 1]])
    efficiency, background = PunziLoss().window_sums(
        output, target, [1.0, 1.0, 8.0], indicator
    )
    np.testing.assert_allclose(efficiency.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(background.numpy(), [4.0, 4.0])


def test_one_and_two_dimensional_groups_agree():
    rng = np.random.default_rng(1)
    labels = rng.integers(-1, 3, 40)
    target = np.zeros(40, dtype=int)
    target[:9] = 1
    labels[:9] = np.arange(9) % 3
    indicator = np.zeros((40, 3), dtype=int)
    indicator[labels >= 0, labels[labels >= 0]] = 1
    output = torch.tensor(rng.uniform(0.1, 0.9, 40))
    loss = PunziLoss()
    from_labels = loss(output, target, groups=labels)
    for groups in (indicator, sp.csr_matrix(indicator), sp.coo_matrix(indicator)):
        assert loss(output, target, groups=groups).item() == pytest.approx(
            from_labels.item(), rel=1e-12
        )


def test_batch_scaling_is_unbiased():
    output, target, weight, indicator = _events(n=90)
    output = torch.tensor(output)
    loss = PunziLoss()
    full_eff, full_bkg = loss.window_sums(output, target, weight, indicator)
    n_batches = 3
    batches = np.array_split(np.arange(90), n_batches)
    scaled = [
        loss.window_sums(output[b], target[b], weight[b], indicator[b], scale=n_batches)
        for b in batches
    ]
    mean_eff = torch.stack([e for e, _ in scaled]).mean(0)
    mean_bkg = torch.stack([b for _, b in scaled]).mean(0)
    torch.testing.assert_close(mean_eff, full_eff)
    torch.testing.assert_close(mean_bkg, full_bkg)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradient_at_zero_background_and_zero_efficiency(dtype):
    loss = PunziLoss()
    # Window 0: background output 0; window 1: signal output 0.
    output = torch.tensor([0.7, 0.0, 0.0, 0.3], dtype=dtype, requires_grad=True)
    value = loss(output, [1, 0, 1, 0], groups=[0, 0, 1, 1])
    value.backward()
    assert value.dtype == dtype
    assert torch.isfinite(value)
    assert torch.isfinite(output.grad).all()


def test_hypotheses_without_signal_are_left_out():
    output = torch.tensor([0.9, 0.5, 0.5])
    loss = PunziLoss()
    with_empty = loss(output, [1, 0, 0], groups=[0, 0, 1])
    alone = loss(output[:2], [1, 0], groups=[0, 0])
    assert with_empty.item() == pytest.approx(alone.item())


def test_hypothesis_weights():
    output = torch.tensor([0.9, 0.8, 0.2, 0.1], dtype=torch.float64)
    target, groups = [1, 1, 0, 0], [0, 1, 0, 1]
    per_hypothesis = [
        PunziLoss()(output[[i, i + 2]], [1, 0], groups=[0, 0]).item() for i in (0, 1)
    ]
    weighted = PunziLoss(hypothesis_weights=[3.0, 1.0])(output, target, groups=groups)
    expected = (3 * per_hypothesis[0] + per_hypothesis[1]) / 4
    assert weighted.item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="hypothesis_weights has 3 entries"):
        PunziLoss(hypothesis_weights=[1, 1, 1])(output, target, groups=groups)


def test_errors():
    with pytest.raises(ValueError, match="formula must be one of"):
        PunziLoss(formula="other")
    with pytest.raises(ValueError, match="target has 2 entries"):
        PunziLoss()(torch.ones(3), [1, 0])
    with pytest.raises(ValueError, match="nothing to optimise"):
        PunziLoss()(torch.ones(3), [0, 0, 0])


def _objective_gradients(
    network, X, weight, index, batch_size, chunk_size, layout, cache_bytes=2**28
):
    X = layout(X)
    hypothesis_weights = torch.ones(index.n_hypotheses, dtype=torch.float64)
    kwargs = {"a": 3.0, "b": 1.28, "luminosity": 1.0, "formula": "paper"}
    objective = PunziObjective(
        X,
        weight,
        index,
        hypothesis_weights,
        kwargs,
        batch_size,
        1.0,
        chunk_size,
        torch.Generator().manual_seed(0),
        cache_bytes=cache_bytes,
    )
    results = []
    for batch in range(objective.n_batches):
        network.zero_grad()
        loss, _ = objective.step(network, batch)
        grads = [p.grad.clone() for p in network.parameters()]
        results.append((loss, grads))
    return results


@pytest.mark.parametrize("layout", [RowInputs, ColumnInputs])
@pytest.mark.parametrize("batch_size", [None, 100])
def test_chunked_gradient_equals_direct_autograd(batch_size, layout):
    """The two-pass chunked path gives the loss and gradients of autograd."""
    rng = np.random.default_rng(3)
    n, n_hypotheses = 300, 4
    X = torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    target = (rng.random(n) < 0.25).astype(np.int64)
    indicator = (rng.random((n, n_hypotheses)) < 0.4).astype(np.int8)
    indicator[target == 1] = 0
    signal = np.flatnonzero(target)
    indicator[signal, np.arange(signal.size) % n_hypotheses] = 1
    weight = torch.tensor(rng.uniform(0.5, 3, n), dtype=torch.float32)
    windows = check_groups(sp.csr_matrix(indicator), n)
    index = WindowIndex(windows, target.astype(bool))
    network = MLP(4)

    # chunk_size >= batch: direct autograd; chunk_size 7: the two-pass path.
    direct = _objective_gradients(network, X, weight, index, batch_size, 10**6, layout)
    chunked = _objective_gradients(network, X, weight, index, batch_size, 7, layout)
    assert len(direct) == len(chunked) == (1 if batch_size is None else 3)
    for (loss_d, grads_d), (loss_c, grads_c) in zip(direct, chunked, strict=False):
        assert loss_c == pytest.approx(loss_d, rel=1e-6)
        for g_d, g_c in zip(grads_d, grads_c, strict=False):
            torch.testing.assert_close(g_c, g_d, rtol=1e-4, atol=1e-6)

    # And the direct path equals PunziLoss on the same batch, scaled.
    if batch_size is None:
        network.zero_grad()
        probability = torch.sigmoid(network(X))
        PunziLoss()(probability.double(), target, weight.double(), indicator).backward()
        for g_d, p in zip(direct[0][1], network.parameters(), strict=False):
            torch.testing.assert_close(g_d, p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("form", ["tanh", "sigmoid"])
@pytest.mark.parametrize("cache_bytes", [2**28, 0, 2 * 19 * 64 * 4])
@pytest.mark.parametrize("batch_size", [None, 100])
def test_hand_written_backward_equals_autograd(
    batch_size, cache_bytes, form, monkeypatch
):
    """The tanh network's manual backward (column layout) matches autograd."""
    monkeypatch.setenv("SKPUNZI_HIDDEN_FORM", form)
    rng = np.random.default_rng(4)
    n, n_hypotheses = 300, 3
    X = torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    target = (rng.random(n) < 0.3).astype(np.int64)
    labels = rng.integers(0, n_hypotheses, n)
    weight = torch.tensor(rng.uniform(0.5, 3, n), dtype=torch.float32)
    index = WindowIndex(check_groups(labels, n), target.astype(bool))
    network = MLP(4, hidden_layer_sizes=(6, 5, 3))
    assert network.supports_manual_backward

    # cache_bytes: every chunk cached, none (all recomputed), or two chunks
    # of 64 events (widths 4 + 6 + 5 + 3 + 1 = 19 floats per event).
    manual = _objective_gradients(
        network, X, weight, index, batch_size, 64, ColumnInputs, cache_bytes
    )
    assert hidden_form(X.device) == form
    autograd = _objective_gradients(
        network, X, weight, index, batch_size, 64, RowInputs
    )
    for (loss_m, grads_m), (loss_a, grads_a) in zip(manual, autograd, strict=True):
        assert loss_m == pytest.approx(loss_a, rel=1e-6)
        for g_m, g_a in zip(grads_m, grads_a, strict=True):
            torch.testing.assert_close(g_m, g_a, rtol=1e-4, atol=1e-6)
    assert not MLP(4, activation="relu").supports_manual_backward


def _pair_sums(values, target, windows):
    """Efficiency and background summed over (event, window) pairs, in numpy."""
    n_hyp = windows.n_hypotheses
    pair_values = values[windows.event]
    signal = target[windows.event] == 1
    efficiency = np.bincount(
        windows.hypothesis[signal], pair_values[signal], minlength=n_hyp
    )
    background = np.bincount(
        windows.hypothesis[~signal], pair_values[~signal], minlength=n_hyp
    )
    return efficiency, background


@pytest.mark.parametrize("kind", ["labels", "overlapping", "none", "sparse_rows"])
def test_window_keys_give_the_pair_sums(kind):
    """Sums through the per-event keys equal sums over every (event, window)."""
    rng = np.random.default_rng(7)
    n, n_hyp = 500, 6
    target = (rng.random(n) < 0.3).astype(np.int64)
    if kind == "labels":
        groups = rng.integers(-1, n_hyp, n)
    elif kind == "overlapping":
        groups = sp.csr_matrix((rng.random((n, n_hyp)) < 0.4).astype(np.int8))
    elif kind == "sparse_rows":
        # Most events in no window, a few in many.
        groups = sp.csr_matrix((rng.random((n, n_hyp)) < 0.05).astype(np.int8))
    else:
        groups = None
    windows = check_groups(groups, n)
    index = WindowIndex(windows, target.astype(bool))
    values = rng.uniform(-1, 2, n)

    efficiency, background = window_sums(torch.as_tensor(values), index.key, index)
    expected = _pair_sums(values, target, windows)
    np.testing.assert_allclose(efficiency.numpy(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(background.numpy(), expected[1], rtol=1e-12)

    # Events sharing a key share class and windows; keys are few.
    membership = windows.to_sparse().toarray()
    for key in range(index.n_keys):
        events = np.flatnonzero(index.key.numpy() == key)
        assert np.unique(target[events]).size <= 1
        assert np.unique(membership[events], axis=0).shape[0] <= 1
    assert index.n_keys <= 2 * 2**n_hyp
    np.testing.assert_array_equal(index.in_window().numpy(), windows.in_any_window())


def test_window_keys_of_a_subset():
    rng = np.random.default_rng(8)
    n = 200
    target = (rng.random(n) < 0.3).astype(np.int64)
    windows = check_groups(sp.csr_matrix(rng.random((n, 4)) < 0.5), n)
    index = WindowIndex(windows, target.astype(bool))
    subset = rng.permutation(n)[:120]
    values = rng.uniform(0, 1, n)
    got = window_sums(
        torch.as_tensor(values[subset]), index.take(torch.as_tensor(subset)).key, index
    )
    expected = _pair_sums(values[subset], target[subset], windows.take(subset))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12)


def test_hash_collisions_never_merge_events(monkeypatch):
    """A (forced) collision is detected; events then keep keys of their own."""
    from skpunzi import _loss

    rng = np.random.default_rng(9)
    n = 100
    target = (rng.random(n) < 0.3).astype(np.int64)
    windows = check_groups(sp.csr_matrix(rng.random((n, 5)) < 0.5), n)
    offsets = np.searchsorted(windows.event, np.arange(n + 1))

    # All events under one key is wrong, and the check says so.
    one_key = np.zeros(n, dtype=np.int64)
    assert not _loss._keys_are_exact(
        windows, target.astype(bool), offsets, one_key, np.array([0])
    )

    # Every hash equal: each draw fails the check, and the fallback is exact.
    monkeypatch.setattr(
        _loss.pd, "factorize", lambda values, sort: (np.zeros(n, np.int64), None)
    )
    index = WindowIndex(windows, target.astype(bool))
    assert index.n_keys == n
    values = rng.uniform(0, 1, n)
    got = window_sums(torch.as_tensor(values), index.key, index)
    for g, e in zip(got, _pair_sums(values, target, windows), strict=True):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12)


def test_mass_windows_need_few_keys():
    """Overlapping mass windows: keys grow with the windows, not the events."""
    from skpunzi import mass_windows

    rng = np.random.default_rng(10)
    n, masses = 50_000, np.linspace(1, 9, 40)
    recoil_mass_squared = rng.uniform(0, 100, n)
    target = (rng.random(n) < 0.1).astype(np.int64)
    groups = mass_windows(recoil_mass_squared, masses, np.full(masses.size, 2.0))
    index = WindowIndex(check_groups(groups, n), target.astype(bool))
    # At most 2 classes x (2 windows edges per centre + 1) distinct sets.
    assert index.n_keys <= 2 * (2 * masses.size + 1)
