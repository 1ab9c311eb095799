"""Persistence of PunziClassifier: pickles across processes and devices."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import copy
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from torch import nn

import skpunzi
from skpunzi import PunziClassifier

FAST = {"pretrain_epochs": 5, "max_epochs": 5, "random_state": 0}


class TinyNet(nn.Module):
    """A custom architecture, importable as ``test_persistence.TinyNet``."""

    def __init__(self, n_features, width=5):
        super().__init__()
        self.hidden = nn.Linear(n_features, width)
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)


def _events(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, 4)) + y[:, None]
    return X, y, rng.integers(0, 3, n)


@pytest.fixture(scope="module")
def fitted():
    """A default and a custom-module model, and many events to predict on."""
    X, y, groups = _events()
    default = PunziClassifier(**FAST).fit(X, y, groups=groups)
    custom = PunziClassifier(module=TinyNet, module_kwargs={"width": 3}, **FAST)
    custom.fit(X, y, groups=groups)
    # Enough rows that torch may split the work between threads.
    X_test = np.random.default_rng(1).normal(size=(20_000, 4))
    return default, custom, X_test


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("dump", ["pickle", "joblib", "deepcopy"])
def test_round_trip_in_process(fitted, which, dump, tmp_path):
    clf, X_test = fitted[which], fitted[2]
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    elif dump == "joblib":
        joblib.dump(clf, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    else:
        loaded = copy.deepcopy(clf)

    assert type(loaded.module_) is type(clf.module_)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), clf.predict_proba(X_test)
    )
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.loss_curve_ == clf.loss_curve_  # history_ holds NaN
    # Pickling must not alter the pickled estimator.
    assert isinstance(clf.module_, nn.Module)


def test_state_holds_the_network_as_torch_save_bytes(fitted):
    clf = fitted[0]
    state = clf.__getstate__()
    assert isinstance(state["module_"], bytes)
    assert state["_skpunzi_versions"] == {
        "skpunzi": skpunzi.__version__,
        "torch": torch.__version__,
        "scikit-learn": __import__("sklearn").__version__,
    }
    assert "_skpunzi_versions" not in vars(pickle.loads(pickle.dumps(clf)))


def test_unfitted_estimator_pickles():
    clf = PunziClassifier(module=TinyNet, a=5.0)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params() == clf.get_params()
    assert not hasattr(loaded, "module_")


def test_old_pickles_with_a_live_module_still_load(fitted):
    # Pickles written before the network was stored as bytes hold the module.
    clf, X_test = fitted[0], fitted[2]
    state = dict(vars(clf))
    loaded = PunziClassifier.__new__(PunziClassifier)
    loaded.__setstate__(state)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), clf.predict_proba(X_test)
    )


def test_other_library_versions_are_warned(fitted):
    clf = fitted[0]
    state = clf.__getstate__()
    state["_skpunzi_versions"] = {**state["_skpunzi_versions"], "torch": "1.0.0"}
    loaded = PunziClassifier.__new__(PunziClassifier)
    with pytest.warns(UserWarning, match=r"pickled with torch 1\.0\.0 \(now "):
        loaded.__setstate__(state)
    assert loaded.predict(fitted[2][:5]).shape == (5,)


@contextlib.contextmanager
def _storages_tagged_as_cuda():
    """Make ``torch.save`` record every CPU tensor as living on ``cuda:0``.

    What a network left on a GPU writes, without needing a GPU: loading such
    bytes on a CPU-only machine fails unless the tensors are mapped to the CPU.
    """
    entry = (-1, lambda storage: "cuda:0", lambda storage, location: None)
    registry = torch.serialization._package_registry
    registry.insert(0, entry)
    try:
        yield
    finally:
        registry.remove(entry)


def test_gpu_pickle_loads_on_a_cpu_only_machine(fitted):
    clf, X_test = fitted[0], fitted[2]
    with _storages_tagged_as_cuda():
        data = pickle.dumps(clf)

    if not torch.cuda.is_available():
        # The simulation is faithful: without map_location these bytes fail.
        with _storages_tagged_as_cuda():
            module_bytes = clf.__getstate__()["module_"]
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(module_bytes), weights_only=False)

    loaded = pickle.loads(data)
    assert {p.device.type for p in loaded.module_.parameters()} == {"cpu"}
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), clf.predict_proba(X_test)
    )


def test_setstate_maps_to_the_cpu(fitted, monkeypatch):
    calls = []
    load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    pickle.loads(pickle.dumps(fitted[1]))
    assert calls == [{"map_location": "cpu", "weights_only": False}]


_FRESH_PROCESS = """
import pickle, sys
import numpy as np
import torch

model_dir = sys.argv[1]
X = np.load(f"{model_dir}/X.npy")
settings = {
    "default": lambda: None,
    "float64": lambda: torch.set_default_dtype(torch.float64),
    "threads1": lambda: torch.set_num_threads(1),
}
for name, apply in settings.items():
    apply()
    for which in ("default", "custom"):
        with open(f"{model_dir}/{which}.pkl", "rb") as file:
            clf = pickle.load(file)
        np.save(f"{model_dir}/{which}-{name}.npy", clf.predict_proba(X))
"""


def test_fresh_process_with_other_dtype_and_threads_predicts_bitwise(fitted, tmp_path):
    default, custom, X_test = fitted
    for name, clf in [("default", default), ("custom", custom)]:
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X_test)

    # The custom module class must be importable there, as for any pickle.
    paths = [str(Path(__file__).parent), str(Path(skpunzi.__file__).parents[1])]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(tmp_path)],
        check=True,
        env=env,
        timeout=120,
    )

    for name, clf in [("default", default), ("custom", custom)]:
        expected = clf.predict_proba(X_test)
        for setting in ("default", "float64", "threads1"):
            got = np.load(tmp_path / f"{name}-{setting}.npy")
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {setting}")
