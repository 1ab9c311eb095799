"""Tests of the Z' benchmark generator, skpunzi.datasets.make_zprime."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pandas as pd
import pytest

from skpunzi.datasets import make_zprime
from skpunzi.datasets._zprime import (
    CATEGORIES,
    FEATURE_NAMES,
    MUON_MASS,
    SQRT_S,
    _mumu_muons,
    _signal_muons,
    _tautau_muons,
)

# Small samples: a few masses and a sliver of the background luminosity.
SMALL = dict(masses=[0.5, 2.0, 5.0], background_scale=0.002, random_state=0)
N_SIGNAL = 300


@pytest.fixture(scope="module")
def small():
    return make_zprime(N_SIGNAL, **SMALL)


def _true_recoil_mass_squared(first, second):
    energy = np.sqrt((first**2).sum(0) + MUON_MASS**2) + np.sqrt(
        (second**2).sum(0) + MUON_MASS**2
    )
    pair = first + second
    return (SQRT_S - energy) ** 2 - (pair**2).sum(0)


def test_frame_columns_and_dtypes(small):
    frame = small.frame
    assert list(frame.columns) == [
        *FEATURE_NAMES,
        "recoil_mass_squared",
        "generated_mass",
        "hypothesis",
        "category",
        "label",
        "weight",
    ]
    assert all(frame[name].dtype == np.float32 for name in FEATURE_NAMES)
    assert frame["recoil_mass_squared"].dtype == np.float32
    assert frame["weight"].dtype == np.float64
    assert frame["hypothesis"].dtype == np.int32
    assert frame["label"].dtype == np.int8
    assert frame["category"].cat.categories.tolist() == CATEGORIES
    assert set(frame["category"].unique()) == set(CATEGORIES)


def test_bookkeeping_columns_agree(small):
    frame = small.frame
    signal = frame["label"] == 1
    np.testing.assert_array_equal(signal, frame["hypothesis"] >= 0)
    np.testing.assert_array_equal(signal, frame["category"] == "signal")
    assert frame.loc[~signal, "generated_mass"].isna().all()
    np.testing.assert_allclose(
        frame.loc[signal, "generated_mass"],
        small.masses[frame.loc[signal, "hypothesis"]],
    )
    assert frame["hypothesis"].max() == len(small.masses) - 1


def test_bunch_fields(small):
    assert small.feature_names == FEATURE_NAMES
    assert small.target_names == ["background", "signal"]
    assert small.data.shape == (len(small.frame), 4)
    pd.testing.assert_series_equal(small.target, small.frame["label"])
    pd.testing.assert_series_equal(small.weight, small.frame["weight"])
    np.testing.assert_array_equal(small.masses, SMALL["masses"])
    assert small.widths.shape == (3,)
    assert small.luminosity == 50.0
    assert set(small.mc_luminosity) == {"mumu", "tautau", "eemumu"}
    assert "Z'" in small.DESCR


def test_default_masses_are_the_papers():
    data = make_zprime(100, background_scale=0, random_state=0)
    np.testing.assert_allclose(data.masses, np.arange(1, 90) / 10)
    assert data.frame["category"].eq("signal").all()


@pytest.mark.parametrize("as_frame", [True, False])
def test_return_X_y(as_frame):
    X, y = make_zprime(N_SIGNAL, return_X_y=True, as_frame=as_frame, **SMALL)
    assert X.shape[1] == 4 and X.shape[0] == y.shape[0]
    assert set(np.unique(y)) == {0, 1}
    if as_frame:
        assert list(X.columns) == FEATURE_NAMES
        assert isinstance(y, pd.Series)
    else:
        assert isinstance(X, np.ndarray) and X.dtype == np.float32


def test_numpy_output_matches_frame(small):
    data = make_zprime(N_SIGNAL, as_frame=False, **SMALL)
    assert data.frame is None
    np.testing.assert_array_equal(data.data, small.data.to_numpy())
    np.testing.assert_array_equal(data.target, small.target.to_numpy())
    np.testing.assert_array_equal(data.weight, small.weight.to_numpy())
    np.testing.assert_array_equal(data.hypothesis, small.frame["hypothesis"])
    np.testing.assert_array_equal(data.category, small.frame["category"].astype(str))


def test_same_seed_same_data_other_seed_other_data(small):
    again = make_zprime(N_SIGNAL, **SMALL)
    pd.testing.assert_frame_equal(again.frame, small.frame)
    other = make_zprime(N_SIGNAL, **{**SMALL, "random_state": 1})
    assert not np.array_equal(
        other.frame["pt_dimuon"].to_numpy()[:100],
        small.frame["pt_dimuon"].to_numpy()[:100],
    )


def test_threads_do_not_change_the_data(small):
    threaded = make_zprime(N_SIGNAL, n_jobs=2, **SMALL)
    pd.testing.assert_frame_equal(threaded.frame, small.frame)


def test_streams_are_independent(small):
    # More signal, or other masses, leave the background and the events of
    # the shared masses unchanged.
    more = make_zprime(2 * N_SIGNAL, **SMALL).frame
    background = small.frame[small.frame["label"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        more[more["label"] == 0].reset_index(drop=True), background
    )
    fewer = make_zprime(N_SIGNAL, **{**SMALL, "masses": [2.0]}).frame
    np.testing.assert_array_equal(
        fewer.loc[fewer["label"] == 1, "pt_dimuon"],
        small.frame.loc[small.frame["generated_mass"] == 2.0, "pt_dimuon"],
    )


def test_background_weights_are_luminosity_ratios(small):
    frame = small.frame
    for name in ["mumu", "tautau", "eemumu"]:
        weights = frame.loc[frame["category"] == name, "weight"]
        expected = small.luminosity / small.mc_luminosity[name]
        np.testing.assert_allclose(weights, expected)

        # Over all generated events the weights sum to sigma * L; the
        # preselected ones keep part of it.
        generated_yield = small.n_generated[name] * expected
        region_yield = small.cross_sections[name] * small.luminosity
        np.testing.assert_allclose(generated_yield, region_yield)
        assert 0 < weights.sum() < region_yield


def test_weights_scale_with_luminosity(small):
    double = make_zprime(N_SIGNAL, luminosity=100.0, **SMALL).frame
    background = small.frame["label"] == 0
    np.testing.assert_allclose(
        double.loc[background, "weight"], 2 * small.frame.loc[background, "weight"]
    )
    np.testing.assert_array_equal(
        double.loc[~background, "weight"], small.frame.loc[~background, "weight"]
    )


def test_signal_weights_sum_to_efficiency(small):
    frame = small.frame[small.frame["label"] == 1]
    np.testing.assert_allclose(frame["weight"], 1 / N_SIGNAL)
    np.testing.assert_array_equal(small.n_generated["signal"], [N_SIGNAL] * 3)
    efficiency = frame.groupby("hypothesis")["weight"].sum()
    assert efficiency.between(0.2, 1.0).all()


def test_visible_yields_have_the_documented_size(small):
    frame = small.frame
    per_fb = frame.groupby("category", observed=True)["weight"].sum() / 50
    # Visible cross-sections in fb (Notes of make_zprime), loose bounds.
    assert 60 < per_fb["mumu"] < 200
    assert 10_000 < per_fb["tautau"] < 15_000
    assert 60_000 < per_fb["eemumu"] < 100_000
    np.testing.assert_allclose(small.cross_sections["tautau"], 0.919e6 * 0.1739**2)


@pytest.mark.parametrize("mass", [0.3, 1.0, 4.0, 8.5])
def test_true_recoil_mass_is_the_zprime_mass(mass):
    first, second = _signal_muons(np.random.default_rng(0), 500, mass)
    np.testing.assert_allclose(
        _true_recoil_mass_squared(first, second), mass**2, atol=1e-6
    )


def test_true_recoil_of_the_backgrounds():
    rng = np.random.default_rng(0)
    # A photon is massless; four neutrinos are not.
    np.testing.assert_allclose(
        _true_recoil_mass_squared(*_mumu_muons(rng, 500)), 0, atol=1e-6
    )
    assert (_true_recoil_mass_squared(*_tautau_muons(rng, 500)) > -1e-9).all()


@pytest.mark.parametrize("mass", [0.5, 2.0, 5.0, 8.0])
def test_signal_peak_sits_at_the_mass_squared(mass):
    data = make_zprime(2000, masses=[mass], background_scale=0, random_state=0)
    median = np.median(data.frame["recoil_mass_squared"])
    assert abs(median - mass**2) < 0.05
    assert 0.03 < data.widths[0] < 0.4


def test_measured_widths_rise_then_fall():
    data = make_zprime(2000, masses=[0.1, 3.0, 8.9], background_scale=0, random_state=0)
    low, middle, high = data.widths
    assert low < middle and high < middle


def test_background_shapes(small):
    frame = small.frame
    recoil = frame.groupby("category", observed=True)["recoil_mass_squared"]
    assert abs(recoil.median()["mumu"]) < 0.1
    assert recoil.median()["eemumu"] > 40
    assert (frame["pt_dimuon"] > 0.5).all()
    assert (frame["pt_thrust"] <= frame["pt_muon_rel"] + 1e-5).all()


def test_given_widths_are_returned():
    data = make_zprime(50, masses=[1.0, 2.0], widths=[0.2, 0.3], background_scale=0)
    np.testing.assert_array_equal(data.widths, [0.2, 0.3])


def test_too_few_signal_events_warn():
    with pytest.warns(UserWarning, match="widths are NaN"):
        data = make_zprime(10, masses=[1.0], background_scale=0, random_state=0)
    assert np.isnan(data.widths[0])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_signal_per_mass": -5}, "'n_signal_per_mass' parameter"),
        ({"n_signal_per_mass": 1.5}, "'n_signal_per_mass' parameter"),
        ({"background_scale": -1.0}, "'background_scale' parameter"),
        ({"luminosity": 0.0}, "'luminosity' parameter"),
        ({"return_X_y": "yes"}, "'return_X_y' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
        ({"masses": [0.0]}, r"kinematic range .* got 0\.0"),
        ({"masses": [-1.0]}, r"kinematic range .* got -1\.0"),
        ({"masses": [10.4]}, r"kinematic range .* got 10\.4"),
        ({"masses": [1.0, 1.0]}, "duplicates"),
        ({"masses": [[1.0, 2.0]]}, "1-D array"),
        ({"masses": []}, "non-empty"),
        ({"widths": [0.1, 0.2]}, r"one entry per mass, shape \(1,\)"),
        ({"widths": [-0.1]}, "positive and finite"),
        ({"momentum_resolution": (0.001,)}, "pair"),
        ({"momentum_resolution": (-0.001, 0.003)}, "non-negative"),
        ({"n_jobs": 0}, "n_jobs == 0"),
    ],
)
def test_bad_parameters_raise(params, match):
    kwargs = {"n_signal_per_mass": 20, "masses": [1.0], "background_scale": 0.0}
    kwargs.update(params)
    with pytest.raises(ValueError, match=match):
        make_zprime(**kwargs)
