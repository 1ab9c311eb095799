import numpy as np
import pytest
import torch

from skpunzi import punzi_sensitivity

# (efficiency, background, a, b, expected paper, expected refined), by hand:
# paper numerator = b^2/2 + a sqrt(B) + b/2 sqrt(b^2 + 4 a sqrt(B) + 4 B),
# refined replaces b^2/2 by a^2/8 + 9 b^2/13.
HAND_VALUES = [
    # 0.8192 + 6 + 0.64 * sqrt(41.6384) = 10.948981; / 0.5
    (0.5, 4.0, 3.0, 1.28, 21.897961, 24.778115),
    # B = 0: paper gives b^2 / eff, refined a^2/8 + 9b^2/13 + b^2/2
    (1.0, 0.0, 5.0, 1.28, 1.6384, 5.078477),
    # 0.5 + 2 * 10 + 0.5 * sqrt(1 + 80 + 400) = 31.465856; / (0.2 * 10)
    (0.2, 100.0, 2.0, 1.0, 15.732928, 16.079082),
]


@pytest.mark.parametrize("eff, bkg, a, b, paper, refined", HAND_VALUES)
def test_hand_computed_values(eff, bkg, a, b, paper, refined):
    luminosity = 10.0 if bkg == 100.0 else 1.0
    got = punzi_sensitivity(eff, bkg, a=a, b=b, luminosity=luminosity)
    assert got == pytest.approx(paper, rel=1e-6)
    got = punzi_sensitivity(
        eff, bkg, a=a, b=b, luminosity=luminosity, formula="refined"
    )
    assert got == pytest.approx(refined, rel=1e-6)


@pytest.mark.parametrize("formula", ["paper", "refined"])
def test_numpy_and_torch_agree(formula):
    rng = np.random.default_rng(0)
    eff, bkg = rng.uniform(0.01, 1, 20), rng.uniform(0, 1000, 20)
    expected = punzi_sensitivity(eff, bkg, formula=formula)
    got = punzi_sensitivity(torch.tensor(eff), torch.tensor(bkg), formula=formula)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_lists_and_zero_efficiency():
    got = punzi_sensitivity([0.5, 0.0], [4.0, 1.0])
    assert got[0] == pytest.approx(21.897961, rel=1e-6)
    assert np.isinf(got[1])


def test_monotonic_in_background_and_efficiency():
    background = np.linspace(0, 100, 50)
    assert np.all(np.diff(punzi_sensitivity(0.3, background)) > 0)
    efficiency = np.linspace(0.05, 1, 50)
    assert np.all(np.diff(punzi_sensitivity(efficiency, 10.0)) < 0)


def test_unknown_formula():
    with pytest.raises(ValueError, match="formula must be one of"):
        punzi_sensitivity(0.5, 1.0, formula="punzi2003")
