"""pytest settings for the doctests of the user guide (``*.rst`` here).

Each page runs as one doctest. The pages change process-wide settings the way
a reader would (``sklearn.set_config``, the current directory for saved
files); the fixture below undoes that after every page, so that no page leaks
into another test, even when it fails half-way.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import pytest
import sklearn
import torch

try:
    import matplotlib
except ImportError:
    pass
else:
    # Pages draw figures but never show them.
    matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_page(tmp_path, monkeypatch):
    """Run each page in a fresh folder, with scikit-learn's config restored."""
    monkeypatch.chdir(tmp_path)

    # The pages train networks of a few dozen weights on a few hundred events:
    # one thread is many times faster than several competing for a busy CPU.
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with sklearn.config_context():
            yield
    finally:
        torch.set_num_threads(n_threads)
