"""Scan the Punzi phase's schedule on the Z' study's samples (one seed).

For each pretraining setting, the BCE-net is fitted once; each Punzi-phase
setting then continues a copy of it (``warm_start``). Cuts per mass are
chosen on validation events and the figures of merit are measured on test
events, as in ``examples/zprime_search.py``. Usage::

    python benchmarks/scan_punzi_phase.py [--seed 0]

Prints one line per setting: wall time of the Punzi phase, its final loss on
the training events, and the mean FOM at the cut 0.5 and with the best cut
per mass, on trained and unseen masses.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import pathlib
import pickle
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))

import zprime_search as study  # noqa: E402
from _machine import announce  # noqa: E402

from skpunzi import PunziClassifier  # noqa: E402

PRETRAINING = [(20, 0.01), (60, 0.01), (30, 0.03)]
PUNZI_PHASE = [
    # (optimizer, learning_rate, max_epochs, batch_size)
    ("adam", 1e-3, 200, None),
    ("adam", 1e-2, 500, None),
    ("adam", 3e-2, 500, None),
    ("adam", 1e-2, 500, 30_000),
    ("adam", 3e-3, 500, 30_000),
    ("adam", 1e-2, 500, 10_000),
    ("adam", 1e-2, 1000, 30_000),
    ("adam", 5e-3, 1000, 10_000),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    announce(threads=1)

    data, samples, trained = study.make_samples(args.seed, 2000, 0.05)
    train = samples["train"]
    fit_params = {"sample_weight": train["weight"], "groups": train["groups"]}

    def report(model):
        table, _ = study.evaluate(
            {"BDT": model, "BCE-net": model, "Punzi-net": model},
            samples,
            data.luminosity,
        )
        half = table["Punzi-net, cut 0.5"]
        best = table["Punzi-net, best cut per mass"]
        return (
            f"cut 0.5 trained {half[trained].mean():.3f} "
            f"unseen {half[~trained].mean():.3f} | best cut per mass trained "
            f"{best[trained].mean():.3f} unseen {best[~trained].mean():.3f}"
        )

    for epochs, rate in PRETRAINING:
        bce_net = PunziClassifier(
            luminosity=data.luminosity,
            pretrain_epochs=epochs,
            pretrain_learning_rate=rate,
            max_epochs=0,
            random_state=args.seed,
        ).fit(train["X"], train["y"], **fit_params)
        print(f"BCE-net: {epochs} epochs, learning rate {rate}: {report(bce_net)}")
        for optimizer, learning_rate, max_epochs, batch_size in PUNZI_PHASE:
            net = pickle.loads(pickle.dumps(bce_net))
            net.set_params(
                optimizer=optimizer,
                learning_rate=learning_rate,
                max_epochs=max_epochs,
                batch_size=batch_size,
                warm_start=True,
            )
            start = time.perf_counter()
            net.fit(train["X"], train["y"], **fit_params)
            print(
                f"  {optimizer} lr {learning_rate:g}, {max_epochs} epochs, batch "
                f"{batch_size}: {time.perf_counter() - start:.0f} s, loss "
                f"{net.punzi_loss_:.3f}, {report(net)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
