"""Where a benchmark's numbers come from: one line for every script's output."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import platform

import numpy as np
import sklearn
import torch

from skpunzi._network import hidden_form


def cpu_model():
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """One line describing the machine and the versions.

    The CPU model and the instruction set torch dispatches to matter: the
    same command has given 2x different Punzi epochs on two 2-core machines.
    """
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()}, hidden form "
        f"{hidden_form('cpu')}), numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, python {platform.python_version()}"
    )


def announce(threads=None):
    """Print the machine line first; ``threads`` pins torch's thread count.

    The studies run single-threaded: several fits share the machine, and
    torch's waiting threads slow small steps down when a core is busy.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    print(f"machine: {machine()}", flush=True)
