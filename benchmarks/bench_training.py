"""Speed and memory of training and prediction, against plain PyTorch.

Each measurement runs in its own process, so that peak memory (the maximum
resident set size) belongs to that measurement alone. Usage::

    python benchmarks/bench_training.py punzi-epoch [--events 9000000]
    python benchmarks/bench_training.py bce-epoch [--events 1000000]
    python benchmarks/bench_training.py bce-loss [--events 1000000]
    python benchmarks/bench_training.py fit [--events 9000000]
    python benchmarks/bench_training.py predict [--events 9000000]
    python benchmarks/bench_training.py hidden-forms [--events 65536]
    python benchmarks/bench_training.py scaling [--events 9000000] [--plot PATH]

The data are synthetic (4 features, 2.5 % signal, 45 overlapping windows of a
uniform "recoil mass"); only sizes matter here. Selection quality is measured
by ``examples/zprime_search.py``.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import json
import resource
import subprocess
import sys
import time
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch
from _machine import announce, machine

N_FEATURES, N_HYPOTHESES = 4, 45


def synthetic(n_events, n_hypotheses=N_HYPOTHESES, overlap=2.0, seed=0):
    """Features, labels, weights and an overlapping window indicator."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n_events) < 0.025).astype(np.int64)
    X = rng.normal(size=(n_events, N_FEATURES)).astype(np.float32)
    X[y == 1] += 0.7
    weight = np.where(y == 1, 1e-4, 0.05)

    # Windows of equal width on a uniform variable; each event lies in about
    # ``overlap`` of them, a signal event only in its own.
    mass = rng.random(n_events)
    centres = (np.arange(n_hypotheses) + 0.5) / n_hypotheses
    half_width = overlap / (2 * n_hypotheses)
    order = np.argsort(mass)
    low = np.searchsorted(mass[order], centres - half_width)
    high = np.searchsorted(mass[order], centres + half_width)
    rows = np.concatenate([order[a:b] for a, b in zip(low, high, strict=False)])
    cols = np.repeat(np.arange(n_hypotheses), high - low)
    background = y[rows] == 0
    signal = np.flatnonzero(y)
    own = np.minimum((mass[signal] * n_hypotheses).astype(int), n_hypotheses - 1)
    rows = np.concatenate([rows[background], signal])
    cols = np.concatenate([cols[background], own])
    pairs = sp.csr_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, cols)),
        shape=(n_events, n_hypotheses),
    )
    pairs.data[:] = 1
    return X, y, weight, pairs


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(function, repeat):
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


# --- The Punzi phase -------------------------------------------------------


def punzi_epoch_skpunzi(
    n_events,
    repeat,
    n_hypotheses=N_HYPOTHESES,
    overlap=2.0,
    chunk_size=None,
    cache_mb=256,
):
    """One full-sample Punzi epoch with skpunzi's chunked two-pass gradient."""
    from skpunzi import PunziClassifier
    from skpunzi._groups import check_groups
    from skpunzi._loss import WindowIndex
    from skpunzi._network import MLP, training_inputs
    from skpunzi._training import PunziObjective

    X, y, weight, pairs = synthetic(n_events, n_hypotheses, overlap)
    network = MLP(N_FEATURES)
    before = peak_memory_mb()
    start = time.perf_counter()
    index = WindowIndex(check_groups(pairs, n_events), y.astype(bool))
    objective = PunziObjective(
        training_inputs(network, torch.from_numpy(X)),
        torch.from_numpy(weight.astype(np.float32)),
        index,
        torch.ones(n_hypotheses, dtype=torch.float64),
        {"a": 3.0, "b": 1.28, "luminosity": 1.0, "formula": "paper"},
        None,
        1.0,
        chunk_size or PunziClassifier().chunk_size,
        torch.Generator().manual_seed(0),
        cache_bytes=int(cache_mb * 2**20),
    )
    setup = time.perf_counter() - start
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)

    def epoch():
        optimizer.zero_grad()
        objective.step(network, 0)
        optimizer.step()

    best, median = _timed(epoch, repeat)
    return {
        "setup_s": setup,
        "epoch_s": best,
        "median_s": median,
        "pairs": int(pairs.nnz),
        "keys": index.n_keys,
        "extra_peak_mb": peak_memory_mb() - before,
    }


def punzi_epoch_sparse(n_events, repeat):
    """The straightforward eager version: autograd over sparse matrix products.

    As in the paper's public code: one sparse (hypotheses x events) matrix for
    signal and one for background, multiplied with the output vector.
    """
    from skpunzi._network import MLP
    from skpunzi._sensitivity import punzi_sensitivity

    X, y, weight, pairs = synthetic(n_events)
    network = MLP(N_FEATURES)
    start = time.perf_counter()
    coo = pairs.tocoo()
    matrices = []
    for label in (1, 0):
        keep = y[coo.row] == label
        matrices.append(
            torch.sparse_coo_tensor(
                np.vstack([coo.col[keep], coo.row[keep]]),
                torch.from_numpy(weight[coo.row[keep]].astype(np.float32)),
                (N_HYPOTHESES, n_events),
            ).coalesce()
        )
    setup = time.perf_counter() - start
    features = torch.from_numpy(X)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    before = peak_memory_mb()

    def epoch():
        optimizer.zero_grad()
        output = torch.sigmoid(network(features)).unsqueeze(1)
        efficiency = torch.sparse.mm(matrices[0], output).squeeze(1)
        background = torch.sparse.mm(matrices[1], output).squeeze(1)
        loss = punzi_sensitivity(
            efficiency.clamp_min(1e-8), background.clamp_min(1e-8)
        ).mean()
        loss.backward()
        optimizer.step()

    best, median = _timed(epoch, repeat)
    return {
        "setup_s": setup,
        "epoch_s": best,
        "median_s": median,
        "extra_peak_mb": peak_memory_mb() - before,
    }


def punzi_epoch_index_add(n_events, repeat):
    """Plain eager autograd with segment sums over (event, window) pairs."""
    from skpunzi._network import MLP
    from skpunzi._sensitivity import punzi_sensitivity

    X, y, weight, pairs = synthetic(n_events)
    network = MLP(N_FEATURES)
    coo = pairs.tocoo()
    event = torch.from_numpy(coo.row.astype(np.int64))
    # Efficiencies in the first N_HYPOTHESES sums, backgrounds after them.
    slot = torch.from_numpy(
        (coo.col + N_HYPOTHESES * (y[coo.row] == 0)).astype(np.int64)
    )
    features = torch.from_numpy(X)
    w = torch.from_numpy(weight.astype(np.float32))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    before = peak_memory_mb()

    def epoch():
        optimizer.zero_grad()
        values = (w * torch.sigmoid(network(features))).double()
        sums = values.new_zeros(2 * N_HYPOTHESES).index_add(
            0, slot, values.index_select(0, event)
        )
        loss = punzi_sensitivity(
            sums[:N_HYPOTHESES].clamp_min(1e-8), sums[N_HYPOTHESES:].clamp_min(1e-8)
        ).mean()
        loss.backward()
        optimizer.step()

    best, median = _timed(epoch, repeat)
    return {
        "epoch_s": best,
        "median_s": median,
        "extra_peak_mb": peak_memory_mb() - before,
    }


# --- Pretraining -----------------------------------------------------------


def bce_epoch_skpunzi(n_events, repeat, batch_size=4096):
    """One BCE epoch of skpunzi's pretraining loop (SGD, batch 4096)."""
    from skpunzi._network import MLP, training_inputs
    from skpunzi._training import BCEObjective, _run_epoch

    X, y, weight, _ = synthetic(n_events)
    network = MLP(N_FEATURES)
    objective = BCEObjective(
        training_inputs(network, torch.from_numpy(X)),
        torch.from_numpy(y.astype(np.float32)),
        torch.from_numpy(weight.astype(np.float32)),
        batch_size,
        torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.SGD(network.parameters(), lr=1.0)
    best, median = _timed(lambda: _run_epoch(network, objective, optimizer), repeat)
    return {"epoch_s": best, "median_s": median, "events_per_s": n_events / best}


def bce_epoch_dataloader(n_events, repeat, batch_size=4096):
    """A textbook PyTorch loop: TensorDataset + shuffling DataLoader + SGD."""
    from torch.utils.data import DataLoader, TensorDataset

    from skpunzi._network import MLP

    X, y, weight, _ = synthetic(n_events)
    network = MLP(N_FEATURES)
    loader = DataLoader(
        TensorDataset(
            torch.from_numpy(X),
            torch.from_numpy(y.astype(np.float32)),
            torch.from_numpy(weight.astype(np.float32)),
        ),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.SGD(network.parameters(), lr=1.0)

    def epoch():
        for features, labels, weights in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                network(features), labels, weight=weights
            )
            loss.backward()
            optimizer.step()

    best, median = _timed(epoch, repeat)
    return {"epoch_s": best, "median_s": median, "events_per_s": n_events / best}


def bce_to_equal_loss(n_events, repeat, reference_epochs=5):
    """Wall time to the same weighted BCE: reference loop against skpunzi's.

    The reference (the textbook ``DataLoader`` loop with the paper's SGD,
    learning rate 1, at batch 4096) runs ``reference_epochs`` epochs; its
    final class-balanced weighted BCE over all events is the target. skpunzi's
    pretraining loop (its defaults: Adam, learning rate 0.03, batch 2048; and
    the reference's recipe for comparison) runs until it reaches that loss.
    Both start from the same initial network; loss evaluations are not timed.
    """
    import copy

    from torch.utils.data import DataLoader, TensorDataset

    from skpunzi._network import MLP, training_inputs
    from skpunzi._training import BCEObjective, _run_epoch

    X, y, weight, _ = synthetic(n_events)
    features = torch.from_numpy(X)
    labels = torch.from_numpy(y.astype(np.float32))
    balanced = torch.from_numpy(np.where(y == 1, 1 / y.mean(), 1 / (1 - y.mean())))
    balanced = (balanced / balanced.mean()).float()
    torch.manual_seed(0)
    initial = MLP(N_FEATURES)

    def full_loss(network):
        with torch.no_grad():
            return torch.nn.functional.binary_cross_entropy_with_logits(
                network(features), labels, weight=balanced
            ).item()

    # The reference.
    network = copy.deepcopy(initial)
    loader = DataLoader(
        TensorDataset(features, labels, balanced),
        batch_size=4096,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.SGD(network.parameters(), lr=1.0)
    reference_s, reference_curve = 0.0, []
    for _ in range(reference_epochs):
        start = time.perf_counter()
        for batch_x, batch_y, batch_w in loader:
            optimizer.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(
                network(batch_x), batch_y, weight=batch_w
            ).backward()
            optimizer.step()
        reference_s += time.perf_counter() - start
        reference_curve.append(full_loss(network))
    target = reference_curve[-1]

    def until_target(optimizer_name, learning_rate, batch_size, max_epochs=30):
        network = copy.deepcopy(initial)
        objective = BCEObjective(
            training_inputs(network, features),
            labels,
            balanced,
            batch_size,
            torch.Generator().manual_seed(0),
        )
        optimizer = (
            torch.optim.Adam(network.parameters(), lr=learning_rate)
            if optimizer_name == "adam"
            else torch.optim.SGD(network.parameters(), lr=learning_rate)
        )
        seconds, curve = 0.0, []
        for _ in range(max_epochs):
            start = time.perf_counter()
            _run_epoch(network, objective, optimizer)
            seconds += time.perf_counter() - start
            curve.append(full_loss(network))
            if curve[-1] <= target:
                break
        return {
            "seconds": seconds,
            "curve": curve,
            "epochs": len(curve),
            "final_loss": curve[-1],
            "reached": curve[-1] <= target,
        }

    defaults = until_target("adam", 0.03, 2048)
    same_recipe = until_target("sgd", 1.0, 4096)
    return {
        "reference_epochs": reference_epochs,
        "reference_s": reference_s,
        "reference_loss": target,
        "reference_curve": reference_curve,
        "skpunzi_defaults": defaults,
        "skpunzi_reference_recipe": same_recipe,
        "time_ratio_defaults": defaults["seconds"] / reference_s,
        "time_ratio_reference_recipe": same_recipe["seconds"] / reference_s,
    }


# --- Whole fit and prediction ------------------------------------------------


def whole_fit(n_events, repeat):
    """``PunziClassifier().fit`` with default parameters."""
    from skpunzi import PunziClassifier

    X, y, weight, pairs = synthetic(n_events)
    before = peak_memory_mb()
    start = time.perf_counter()
    clf = PunziClassifier(random_state=0).fit(X, y, sample_weight=weight, groups=pairs)
    seconds = time.perf_counter() - start
    return {
        "fit_s": seconds,
        "extra_peak_mb": peak_memory_mb() - before,
        "pretrain_epochs": clf.n_pretrain_epochs_,
        "punzi_epochs": clf.n_epochs_,
    }


def predict(n_events, repeat):
    """``predict_proba`` of a fitted default model."""
    from skpunzi import PunziClassifier

    X, y, weight, pairs = synthetic(n_events)
    small = slice(0, 20_000)
    clf = PunziClassifier(pretrain_epochs=1, max_epochs=1, random_state=0).fit(
        X[small], y[small], sample_weight=weight[small], groups=pairs[small]
    )
    best, median = _timed(lambda: clf.predict_proba(X), repeat)
    return {"predict_proba_s": best, "median_s": median}


def hidden_forms(n_events, repeat):
    """torch's tanh against its sigmoid, the two ways to compute tanh layers.

    On a (8, n_events) float32 buffer, as one hidden layer of a training
    chunk: inputs spread over [-3, 3] as in a working network, and inputs
    in [88, 103] (a saturated unit), where the sigmoid's ``exp(-x)`` is a
    denormal number. ``chosen`` is what ``skpunzi._network.hidden_form``
    picks here.
    """
    from skpunzi._network import hidden_form

    result = {"chosen": hidden_form("cpu")}
    for label, low, high in [("", -3.0, 3.0), ("_saturated", 88.0, 103.0)]:
        buffer = torch.linspace(low, high, 8 * n_events).reshape(8, -1)
        output = torch.empty_like(buffer)
        for name, kernel in [("tanh", torch.tanh), ("sigmoid", torch.sigmoid)]:
            best, median = _timed(partial(kernel, buffer, out=output), repeat)
            result[f"{name}{label}_us"] = 1e6 * best
            result[f"{name}{label}_median_us"] = 1e6 * median
    return result


MEASUREMENTS = {
    "punzi-skpunzi": punzi_epoch_skpunzi,
    "punzi-sparse": punzi_epoch_sparse,
    "punzi-index-add": punzi_epoch_index_add,
    "bce-skpunzi": bce_epoch_skpunzi,
    "bce-dataloader": bce_epoch_dataloader,
    "bce-to-loss": bce_to_equal_loss,
    "fit": whole_fit,
    "predict": predict,
    "hidden-forms": hidden_forms,
}

SUITES = {
    "punzi-epoch": ["punzi-skpunzi", "punzi-sparse", "punzi-index-add"],
    "bce-epoch": ["bce-skpunzi", "bce-dataloader"],
    "bce-loss": ["bce-to-loss"],
    "fit": ["fit"],
    "predict": ["predict"],
    "hidden-forms": ["hidden-forms"],
}


def run_isolated(name, n_events, repeat, **options):
    """Run one measurement in a fresh process; returns its result dict."""
    command = [
        sys.executable,
        __file__,
        "--one",
        name,
        "--events",
        str(n_events),
        "--repeat",
        str(repeat),
    ]
    for option, value in options.items():
        command += [f"--{option}", str(value)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def scaling_points(n_events=9_000_000):
    """(events, hypotheses, overlap) of the three scaling series.

    ``overlap`` is the number of windows a background event lies in, so
    pairs = events x overlap. ``n_events`` is the largest sample; the pairs
    and hypotheses series use a third of it.
    """
    third = n_events // 3
    return {
        "events": [(n, N_HYPOTHESES, 2.0) for n in (n_events // 9, third, n_events)],
        "pairs": [(third, N_HYPOTHESES, k) for k in (1.0, 2.0, 4.0, 8.0)],
        "hypotheses": [(third, h, 2.0) for h in (10, 45, 150, 500)],
    }


def scaling(repeat, n_events=9_000_000, output="benchmarks/scaling.png"):
    """Punzi epoch against events, pairs and hypotheses; prints and plots."""
    rows = []
    for series, points in scaling_points(n_events).items():
        for size, n_hypotheses, overlap in points:
            result = run_isolated(
                "punzi-skpunzi",
                size,
                repeat,
                hypotheses=n_hypotheses,
                overlap=overlap,
            )
            row = {
                "series": series,
                "events": size,
                "hypotheses": n_hypotheses,
                **result,
            }
            print(json.dumps(row))
            rows.append(row)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for axis, (series, x_key, label) in zip(
        axes,
        [
            ("events", "events", "events (about 2 windows each)"),
            ("pairs", "pairs", f"(event, window) pairs at {n_events // 3:,d} events"),
            (
                "hypotheses",
                "hypotheses",
                f"hypotheses at {n_events // 3:,d} events, 2 windows each",
            ),
        ],
        strict=True,
    ):
        points = [row for row in rows if row["series"] == series]
        axis.plot(
            [row[x_key] for row in points],
            [row["epoch_s"] for row in points],
            "o-",
        )
        if series != "events":
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlabel(label)
        axis.set_ylim(bottom=0)
    axes[0].set_ylabel("Punzi epoch, full batch [s]")
    figure.suptitle(machine(), fontsize=8)
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    print(f"wrote {output}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", nargs="?", choices=[*SUITES, "scaling"])
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", choices=list(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--hypotheses", type=int, default=N_HYPOTHESES)
    parser.add_argument("--overlap", type=float, default=2.0)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument(
        "--cache-mb", type=float, default=256, help="activation cache budget"
    )
    parser.add_argument(
        "--plot",
        default="benchmarks/scaling.png",
        help="where the scaling suite writes its figure",
    )
    args = parser.parse_args(argv)

    if args.one:
        options = {}
        if args.one == "punzi-skpunzi":
            options = {
                "n_hypotheses": args.hypotheses,
                "overlap": args.overlap,
                "chunk_size": args.chunk_size,
                "cache_mb": args.cache_mb,
            }
        result = MEASUREMENTS[args.one](args.events, args.repeat, **options)
        print(json.dumps(result))
        return

    announce()
    if args.suite == "scaling":
        scaling(args.repeat, args.events or 9_000_000, args.plot)
        return
    default = {"bce-epoch": 1_000_000, "bce-loss": 1_000_000, "hidden-forms": 65_536}
    default = default.get(args.suite, 9_000_000)
    n_events = args.events or default
    print(f"events: {n_events:,d}, repeat: {args.repeat} (best of)")
    for name in SUITES[args.suite]:
        print(f"{name}: {json.dumps(run_isolated(name, n_events, args.repeat))}")


if __name__ == "__main__":
    main()
