"""Scan the network's width and inputs on the Z' study's samples.

For each seed, the study's samples are generated once and the BDT is fitted
once; each network variant is then fitted with the default schedule.
Selections are evaluated as in ``examples/zprime_search.py`` (cuts chosen on
validation events, figures of merit on test events). Usage::

    python benchmarks/scan_network.py [--seeds 3]

Prints, per variant, the mean FOM of the Punzi-net at the cut 0.5 and its
mean sigma_min on trained and unseen masses, averaged over seeds (± standard
error), beside the BDT and the BCE-net at their best per-mass cuts.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))

import zprime_search as study  # noqa: E402
from _machine import announce  # noqa: E402

from skpunzi import PunziClassifier  # noqa: E402

VARIANTS = {
    # name: (PunziClassifier parameters, add the recoil mass squared as input)
    "default (8, 4)": ({}, False),
    "wider (16, 8)": ({"hidden_layer_sizes": (16, 8)}, False),
    "wider (32, 16)": ({"hidden_layer_sizes": (32, 16)}, False),
    "(8, 4) + recoil mass squared input": ({}, True),
}


def with_recoil_mass(samples):
    """The samples with the recoil mass squared as a fifth feature."""
    extended = {}
    for name, sample in samples.items():
        X = sample["X"].copy()
        X["recoil_mass_squared"] = sample["recoil_mass_squared"]
        extended[name] = sample | {"X": X}
    return extended


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    announce(threads=1)

    results = {name: [] for name in VARIANTS}
    baselines = []
    for seed in range(args.seeds):
        data, samples, trained = study.make_samples(seed, 2000, 0.05)
        models, _ = study.train_models(samples["train"], seed, data.luminosity)
        table, _ = study.evaluate(models, samples, data.luminosity)
        baselines.append(
            [
                table[label][mask].mean()
                for label in ("BDT, best cut per mass", "BCE-net, best cut per mass")
                for mask in (trained, ~trained)
            ]
        )
        for name, (params, recoil_input) in VARIANTS.items():
            used = with_recoil_mass(samples) if recoil_input else samples
            train = used["train"]
            start = time.perf_counter()
            net = PunziClassifier(
                a=study.A, b=study.B, luminosity=data.luminosity, random_state=seed
            ).set_params(**params)
            net.fit(
                train["X"],
                train["y"],
                sample_weight=train["weight"],
                groups=train["groups"],
            )
            seconds = time.perf_counter() - start
            # evaluate() scores the three model slots; all hold the variant.
            table, _ = study.evaluate(
                dict.fromkeys(("BDT", "BCE-net", "Punzi-net"), net),
                used,
                data.luminosity,
            )
            half = table["Punzi-net, cut 0.5"]
            row = [
                half[trained].mean(),
                half[~trained].mean(),
                (1 / half[trained][half[trained] > 0]).mean(),
                (1 / half[~trained][half[~trained] > 0]).mean(),
                seconds,
            ]
            results[name].append(row)
            print(f"seed {seed} {name}: " + " ".join(f"{v:.3f}" for v in row))

    def summary(rows):
        rows = np.asarray(rows)
        mean = rows.mean(axis=0)
        error = (
            rows.std(axis=0, ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else 0 * mean
        )
        return " | ".join(
            f"{m:.2f} ± {e:.2f}" for m, e in zip(mean, error, strict=True)
        )

    print(
        "\nbaselines (mean FOM, best cut per mass): BDT trained | BDT unseen | "
        "BCE-net trained | BCE-net unseen"
    )
    print(summary(baselines))
    print(
        "\n| Punzi-net variant | FOM at 0.5 trained | unseen | sigma_min trained [fb] "
        "| unseen | fit [s] |\n|---|---|---|---|---|---|"
    )
    for name, rows in results.items():
        print(f"| {name} | {summary(rows)} |")


if __name__ == "__main__":
    main()
