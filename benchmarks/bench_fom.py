"""Time ``punzi_fom`` on a search-sized sample.

9 million events, 50 overlapping mass windows (about 20 million
(event, window) pairs), the three threshold modes. Run with::

    python benchmarks/bench_fom.py [n_events] [n_hypotheses]

``groups`` is timed twice: as the sparse indicator from ``mass_windows``
(includes the validation in ``check_groups``) and as the already validated
``Windows`` object (the figure of merit alone).
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import sys
import time
import tracemalloc

import numpy as np
from _machine import announce

from skpunzi._groups import check_groups
from skpunzi._metrics import punzi_fom
from skpunzi._windows import mass_windows


def make_sample(n_events, n_hypotheses, seed=0):
    """Flat background, 2.5 % signal spread over the hypotheses."""
    rng = np.random.default_rng(seed)
    masses = np.linspace(0.5, 9.5, n_hypotheses)

    # Widths grow with the mass so that neighbouring +-2 sigma windows
    # overlap: a background event lies in about two windows.
    spacing = masses[1] - masses[0]
    widths = 0.55 * 2 * masses * spacing
    m2 = rng.uniform(0.0, 100.0, n_events)
    generated = np.full(n_events, -1)
    signal = rng.random(n_events) < 0.025
    generated[signal] = rng.integers(0, n_hypotheses, signal.sum())
    m2[signal] = rng.normal(masses[generated[signal]] ** 2, widths[generated[signal]])

    y_true = signal.astype(int)
    y_score = np.clip(rng.normal(0.3 + 0.4 * signal, 0.2), 0.0, 1.0).round(4)
    weight = np.where(signal, 1.0 / 20_000, 0.05)
    groups = mass_windows(m2, masses, widths, generated_hypothesis=generated)
    return y_true, y_score, weight, groups


def timed(label, function):
    # CPU time too: on a shared machine wall time measures the neighbours.
    tracemalloc.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{label:<42} wall {elapsed:6.2f} s  cpu {cpu:6.2f} s  "
        f"peak {peak / 2**30:5.2f} GiB"
    )
    return result


def main(n_events=9_000_000, n_hypotheses=50):
    announce()
    start = time.perf_counter()
    y_true, y_score, weight, groups = make_sample(n_events, n_hypotheses)
    print(
        f"{n_events} events, {n_hypotheses} hypotheses, {groups.nnz} pairs "
        f"(built in {time.perf_counter() - start:.1f} s)"
    )
    windows = timed("check_groups(CSR)", lambda: check_groups(groups, n_events))

    for mode in [0.5, "per_hypothesis", "optimal"]:
        for name, value in [("CSR", groups), ("Windows", windows)]:
            fom = timed(
                f"threshold={mode!r}, groups={name}",
                lambda value=value, mode=mode: punzi_fom(
                    y_true, y_score, sample_weight=weight, groups=value, threshold=mode
                ),
            )
        print(f"    mean FOM {fom.mean():.4f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
