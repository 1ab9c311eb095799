"""A fast toy Monte Carlo of the Belle II search for invisible Z' decays.

The generator produces, in the :math:`e^+e^-` centre-of-mass frame at the
:math:`\\Upsilon(4S)` energy, the signal :math:`e^+e^- \\to \\mu^+\\mu^- Z'`
with an invisible :math:`Z'` and the three backgrounds that mimic it:
:math:`e^+e^- \\to \\mu^+\\mu^-(\\gamma)` with the photon lost,
:math:`e^+e^- \\to \\tau^+\\tau^-` with both taus decaying to muons, and the
two-photon process :math:`e^+e^- \\to e^+e^-\\mu^+\\mu^-` with both electrons
lost. Only the two muons are "seen"; everything is computed from their
smeared momenta, as in the analysis the Punzi-loss paper benchmarks on.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .._validation import (
    ARRAY_LIKE,
    BOOLEAN,
    NONE,
    RANDOM_STATE,
    Interval,
)

__all__ = ["make_zprime"]

# --- Physical constants (GeV, natural units) --------------------------------
SQRT_S = 10.58
MUON_MASS = 0.1056584
TAU_MASS = 1.77686
ELECTRON_MASS = 0.000511
ALPHA = 1 / 137.036
#: One GeV^-2 in femtobarn.
GEV2_TO_FB = 0.3893794e12
#: Branching fraction of tau -> mu nu nu (PDG).
TAU_TO_MU = 0.1739

# --- Cross-sections that set the normalisation (femtobarn) ------------------
#: Lowest-order e+e- -> mu+mu- cross-section 4 pi alpha^2 / (3 s).
SIGMA_MUMU_BORN = 4 * np.pi * ALPHA**2 / (3 * SQRT_S**2) * GEV2_TO_FB
#: e+e- -> tau+tau- at 10.58 GeV, radiative corrections included (KKMC).
SIGMA_TAUTAU = 0.919e6

# --- The preselection that defines the data set (centre-of-mass frame) ------
#: Spread of the collision energy (SuperKEKB), GeV.
BEAM_ENERGY_SPREAD = 0.005
#: Muon polar-angle acceptance, |cos theta*| below this (lab 17-150 degrees).
MUON_COS_THETA_MAX = 0.92
#: Muon identification needs the muon to reach the muon detector.
MIN_MUON_MOMENTUM = 0.5
#: The recoil must point into the barrel calorimeter (lab 33-128 degrees), so
#: that a photon carrying the missing momentum would have been seen.
RECOIL_COS_THETA_MAX = 0.75
#: Minimum dimuon transverse momentum: rejects radiationless mu+mu- events.
MIN_DIMUON_PT = 0.5
#: Probability that a hard photon in the barrel escapes detection (cracks,
#: conversions, overlap with a muon's cluster); an educated guess.
PHOTON_MISS_PROBABILITY = 0.005
#: Scattered electrons with |cos theta*| above this are lost down the beam
#: pipe; below it they are detected and the event is vetoed.
ELECTRON_LOST_COS_THETA = 0.95

#: The Z' masses of the paper: 0.1 to 8.9 GeV in steps of 0.1 GeV.
PAPER_MASSES = np.round(np.arange(1, 90) * 0.1, 1)
#: MC luminosities of the paper's background samples (fb^-1).
PAPER_MC_LUMINOSITY = {"mumu": 3000.0, "tautau": 450.0, "eemumu": 1000.0}
#: MC luminosities at ``background_scale=1`` (fb^-1), see make_zprime Notes.
FULL_MC_LUMINOSITY = {"mumu": 3000.0, "tautau": 450.0, "eemumu": 40.0}

FEATURE_NAMES = ["pt_dimuon", "pt_thrust", "pt_muon_rel", "pl_muon_rel"]
CATEGORIES = ["signal", "mumu", "tautau", "eemumu"]
_BACKGROUNDS = CATEGORIES[1:]
_MAX_MASS = SQRT_S - 2 * MUON_MASS
_CHUNK = 1 << 19

# Generator-level phase-space regions of the backgrounds. Events outside
# them cannot pass the preselection above (up to resolution tails), so they
# are never generated; the region cross-sections are computed exactly.
_MUMU_MIN_PHOTON_ENERGY = 0.3
_MUMU_PHOTON_COS_MAX = 0.80
_EEMUMU_MIN_W = 1.2
_EEMUMU_MAX_W = 8.0
_EEMUMU_MAX_RAPIDITY = 1.0
_ELECTRON_PT_MIN = 1e-4
_EEMUMU_MIN_ELECTRON_PT = 0.22


# ---------------------------------------------------------------------------
# Small kinematics helpers. Three-vectors are (3, n) float64 arrays: one
# contiguous row per component keeps every operation a fast vector loop.
# ---------------------------------------------------------------------------
def _kallen(a, b, c):
    return (a - b - c) ** 2 - 4 * b * c


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _norm(a):
    return np.sqrt(_dot(a, a))


def _unit_vectors(cos_theta, phi):
    sin_theta = np.sqrt(np.clip(1 - cos_theta**2, 0, None))
    vectors = np.empty((3, cos_theta.shape[0]))
    vectors[0] = sin_theta * np.cos(phi)
    vectors[1] = sin_theta * np.sin(phi)
    vectors[2] = cos_theta
    return vectors


def _random_phi(rng, n):
    return rng.uniform(0, 2 * np.pi, n)


def _boost(energy, momentum, beta):
    """Boost four-momenta ``(energy, momentum)`` by the velocity ``beta``."""
    gamma = 1 / np.sqrt(1 - _dot(beta, beta))
    beta_dot_p = _dot(beta, momentum)

    # (gamma - 1) / beta^2 written as gamma^2 / (gamma + 1): finite at beta = 0.
    factor = gamma**2 / (gamma + 1) * beta_dot_p + gamma * energy
    return gamma * (energy + beta_dot_p), momentum + factor * beta


def _rotate_from_z(vectors, cos_theta, phi):
    """Rotate ``vectors`` so that the z axis goes to the direction (theta, phi)."""
    sin_theta = np.sqrt(np.clip(1 - cos_theta**2, 0, None))
    x, y, z = vectors
    x_rot = cos_theta * x + sin_theta * z
    cos_phi, sin_phi = np.cos(phi), np.sin(phi)
    rotated = np.empty_like(vectors)
    rotated[0] = cos_phi * x_rot - sin_phi * y
    rotated[1] = sin_phi * x_rot + cos_phi * y
    rotated[2] = cos_theta * z - sin_theta * x
    return rotated


def _one_plus_cos2(rng, n):
    """Polar-angle cosines with density proportional to 1 + cos^2."""
    # Cardano's solution of c^3 + 3 c = 8 u - 4, the inverse of the CDF.
    q = 4 * rng.random(n) - 2
    root = np.sqrt(q**2 + 1)
    return np.cbrt(q + root) + np.cbrt(q - root)


def _forward_peaked(rng, n, beta):
    """Cosines with density proportional to 1 / (1 - beta^2 cos^2)."""
    u = 2 * rng.random(n) - 1
    return np.tanh(u * np.arctanh(beta)) / beta


def _grid_sampler(grid, density):
    """Inverse-CDF sampler of a density tabulated on a fine grid."""
    steps = (density[1:] + density[:-1]) / 2 * np.diff(grid)
    cdf = np.concatenate([[0], np.cumsum(steps)])
    cdf /= cdf[-1]
    return lambda u: np.interp(u, cdf, grid)


def _splitting_fraction(rng, low, high):
    """Fractions z in [low, high] with density (1 + (1 - z)^2) / z."""
    z = np.empty(low.shape[0])
    todo = np.arange(low.shape[0])

    # Rejection against 1 / z (log-uniform); it accepts at least one half.
    while todo.size:
        log_low = np.log(low[todo])
        trial = np.exp(log_low + rng.random(todo.size) * (np.log(high[todo]) - log_low))
        accepted = 2 * rng.random(todo.size) < 1 + (1 - trial) ** 2
        z[todo[accepted]] = trial[accepted]
        todo = todo[~accepted]
    return z


def _splitting_integral(z):
    """Primitive of the splitting function (1 + (1 - z)^2) / z."""
    return 2 * np.log(z) - 2 * z + z**2 / 2


def _pair_decay(rng, pair_mass, pair_momentum, cos_theta):
    """Decay a system into two muons (``cos_theta`` about the beam), boost it."""
    n = pair_mass.shape[0]
    momentum = np.sqrt(np.clip(pair_mass**2 / 4 - MUON_MASS**2, 0, None))
    muon = momentum * _unit_vectors(cos_theta, _random_phi(rng, n))
    energy = pair_mass / 2
    beta = pair_momentum / np.sqrt(pair_mass**2 + _dot(pair_momentum, pair_momentum))
    return _boost(energy, muon, beta)[1], _boost(energy, -muon, beta)[1]


def _transverse_and_polar(vectors):
    """Transverse momentum and |cos theta| of vectors."""
    pt = np.hypot(vectors[0], vectors[1])
    return pt, np.abs(vectors[2]) / np.hypot(pt, vectors[2])


def _may_pass(pair_momentum, margin=0.15):
    """Whether a dimuon of this (true) momentum can pass the preselection.

    The margins cover the resolution, so cutting here only saves the work of
    decaying events that would fail later anyway.
    """
    pt, cos_theta = _transverse_and_polar(pair_momentum)
    return (pt > MIN_DIMUON_PT - margin) & (cos_theta < RECOIL_COS_THETA_MAX + margin)


# ---------------------------------------------------------------------------
# Signal: e+e- -> mu+ mu- Z', the Z' radiated off a muon line.
# ---------------------------------------------------------------------------
def _virtual_muon(q2, mass):
    """Kinematics of mu* -> mu Z': mu* energy and momentum, rest-frame decay."""
    s, mu2 = SQRT_S**2, MUON_MASS**2
    energy = (s + q2 - mu2) / (2 * SQRT_S)
    momentum = np.sqrt(np.clip(_kallen(s, q2, mu2), 0, None)) / (2 * SQRT_S)
    q = np.sqrt(q2)
    zprime_energy = (q2 + mass**2 - mu2) / (2 * q)
    decay_momentum = np.sqrt(np.clip(_kallen(q2, mass**2, mu2), 0, None)) / (2 * q)
    return energy, momentum, zprime_energy, decay_momentum


def _z_range(q2, mass):
    """Allowed fractions z = E_Z' / E_mu* of the virtual muon's energy."""
    energy, momentum, zprime_energy, decay_momentum = _virtual_muon(q2, mass)
    beta = momentum / energy
    q = np.sqrt(q2)
    low = (zprime_energy - beta * decay_momentum) / q
    high = (zprime_energy + beta * decay_momentum) / q
    return np.clip(low, 1e-12, None), high


@lru_cache(maxsize=256)
def _signal_virtuality_sampler(mass):
    """Sampler of the virtual-muon mass squared Q^2 for one Z' mass."""
    s, mu2 = SQRT_S**2, MUON_MASS**2
    log_low = np.log((MUON_MASS + mass) ** 2 - mu2)
    log_high = np.log((SQRT_S - MUON_MASS) ** 2 - mu2)
    log_grid = np.linspace(log_low, log_high, 4097)
    q2 = np.exp(log_grid) + mu2

    # Density in log(Q^2 - m_mu^2): the propagator 1 / (Q^2 - m_mu^2) is
    # absorbed by the log measure; what is left is the production phase space
    # times the splitting function integrated over the allowed Z' fractions.
    z_low, z_high = _z_range(q2, mass)
    density = np.sqrt(np.clip(_kallen(s, q2, mu2), 0, None)) / s
    density = density * (_splitting_integral(z_high) - _splitting_integral(z_low))
    sample_log = _grid_sampler(log_grid, np.clip(density, 0, None))
    return lambda u: np.exp(sample_log(u)) + mu2


def _signal_muons(rng, n, mass):
    """True muon momenta of ``n`` signal events of one Z' mass."""
    q2 = _signal_virtuality_sampler(mass)(rng.random(n))
    energy, momentum, zprime_energy, decay_momentum = _virtual_muon(q2, mass)
    beta = momentum / energy

    # Z' energy fraction from the splitting function, then the decay angle in
    # the virtual muon's rest frame that gives this fraction.
    z_low, z_high = _z_range(q2, mass)
    z = _splitting_fraction(rng, z_low, z_high)
    cos_star = (z * np.sqrt(q2) - zprime_energy) / (beta * decay_momentum)
    cos_star = np.clip(cos_star, -1, 1)

    # Radiating muon: opposite to the Z' in the rest frame, boosted along z,
    # then rotated to the virtual muon's direction (1 + cos^2 about the beam).
    muon_rest = -decay_momentum * _unit_vectors(cos_star, _random_phi(rng, n))
    boost = np.zeros((3, n))
    boost[2] = beta
    _, radiator = _boost(np.sqrt(decay_momentum**2 + MUON_MASS**2), muon_rest, boost)
    cos_theta, phi = _one_plus_cos2(rng, n), _random_phi(rng, n)
    radiator = _rotate_from_z(radiator, cos_theta, phi)
    spectator = -momentum * _unit_vectors(cos_theta, phi)
    return radiator, spectator


# ---------------------------------------------------------------------------
# Background 1: e+e- -> mu+ mu- gamma with a hard photon missed in the barrel.
# ---------------------------------------------------------------------------
def _mumu_photon_energy_grid():
    s = SQRT_S**2
    x_low = 2 * _MUMU_MIN_PHOTON_ENERGY / SQRT_S
    x_high = 1 - (2 * MUON_MASS + 2 * MIN_MUON_MOMENTUM) ** 2 / s
    x = np.geomspace(x_low, x_high, 4097)

    # Radiator of a hard initial-state photon times the mu+mu- cross-section
    # at the reduced energy, which grows as 1 / s' = 1 / (s (1 - x)).
    density = (1 + (1 - x) ** 2) / (x * (1 - x))
    return x, density


def _mumu_region_cross_section():
    x, density = _mumu_photon_energy_grid()
    energy_integral = np.trapezoid(density, x)
    angle_integral = 2 * np.arctanh(_MUMU_PHOTON_COS_MAX)
    radiator = ALPHA / np.pi * energy_integral * angle_integral
    return SIGMA_MUMU_BORN * radiator * PHOTON_MISS_PROBABILITY


def _mumu_muons(rng, n):
    """True muon momenta of ``n`` mu+ mu- gamma events, photon missed."""
    x = _grid_sampler(*_mumu_photon_energy_grid())(rng.random(n))

    # Photon direction: the 1 / sin^2 peak of initial-state radiation,
    # restricted to the barrel where a photon can carry the recoil.
    u = 2 * rng.random(n) - 1
    cos_photon = np.tanh(u * np.arctanh(_MUMU_PHOTON_COS_MAX))
    photon = x * SQRT_S / 2 * _unit_vectors(cos_photon, _random_phi(rng, n))

    # The dimuon recoils against the photon and decays with 1 + cos^2.
    keep = _may_pass(photon)
    pair_mass = SQRT_S * np.sqrt(1 - x[keep])
    cos_theta = _one_plus_cos2(rng, pair_mass.shape[0])
    return _pair_decay(rng, pair_mass, -photon[:, keep], cos_theta)


# ---------------------------------------------------------------------------
# Background 2: e+e- -> tau+ tau-, both taus -> mu nu nu.
# ---------------------------------------------------------------------------
def _tautau_region_cross_section():
    return SIGMA_TAUTAU * TAU_TO_MU**2


_MICHEL_X = np.linspace(2 * MUON_MASS / TAU_MASS, 1, 1025)
_MICHEL = _grid_sampler(_MICHEL_X, _MICHEL_X**2 * (3 - 2 * _MICHEL_X))


def _tau_to_muon(rng, tau_direction):
    """Muon from tau -> mu nu nu: Michel spectrum, isotropic, boosted."""
    n = tau_direction.shape[1]
    energy = _MICHEL(rng.random(n)) * TAU_MASS / 2
    momentum = np.sqrt(np.clip(energy**2 - MUON_MASS**2, 0, None))
    muon = momentum * _unit_vectors(2 * rng.random(n) - 1, _random_phi(rng, n))
    beta = np.sqrt(1 - (2 * TAU_MASS / SQRT_S) ** 2)
    return _boost(energy, muon, beta * tau_direction)[1]


def _tautau_muons(rng, n):
    """True muon momenta of ``n`` tau+ tau- -> mu+ mu- + 4 nu events."""
    direction = _unit_vectors(_one_plus_cos2(rng, n), _random_phi(rng, n))
    return _tau_to_muon(rng, direction), _tau_to_muon(rng, -direction)


# ---------------------------------------------------------------------------
# Background 3: two-photon e+e- -> e+e- mu+ mu-, both electrons lost.
# ---------------------------------------------------------------------------
def _gamma_gamma_to_mumu(w2):
    """Breit-Wheeler cross-section of gamma gamma -> mu+ mu- (GeV^-2)."""
    beta = np.sqrt(np.clip(1 - 4 * MUON_MASS**2 / w2, 0, None))
    log_term = np.log((1 + beta) / (1 - beta))
    bracket = (3 - beta**4) * log_term - 2 * beta * (2 - beta**2)
    return 2 * np.pi * ALPHA**2 / w2 * bracket


def _electron_log_range(w, pt):
    """log of r = pT^2 / (pT^2 + W^2), the variable that is flat."""
    return np.log(pt**2 / (pt**2 + w**2))


def _electron_spectrum(w, min_pt):
    """Flux log of one electron and the share of it below ``min_pt``.

    The transverse momentum spectrum dpT^2 / pT^2 of the equivalent-photon
    approximation, damped by W^2 / (W^2 + pT^2) where the photon virtuality
    exceeds the pair mass squared, is flat in log r, r = pT^2 / (pT^2 + W^2).
    """
    pt_high = SQRT_S / 2 * np.sqrt(1 - ELECTRON_LOST_COS_THETA**2)
    low = _electron_log_range(w, _ELECTRON_PT_MIN)
    span = _electron_log_range(w, pt_high) - low
    below = (_electron_log_range(w, max(min_pt, _ELECTRON_PT_MIN)) - low) / span
    return low, span, below


@lru_cache(maxsize=4)
def _eemumu_tables(min_w, max_w, max_rapidity, min_electron_pt):
    """Tabulated d sigma / d log tau (GeV^-2) of a two-photon region.

    tau = W^2 / s; the region is min_w < W < max_w, |y| < max_rapidity and
    at least one electron with pT above min_electron_pt.
    """
    s = SQRT_S**2
    log_tau = np.linspace(np.log(min_w**2 / s), np.log(max_w**2 / s), 1025)
    tau = np.exp(log_tau)

    # Integrate the two photon spectra over the rapidity of the pair; the
    # measure d x1 d x2 = tau d y d log tau cancels the 1 / (x1 x2) fluxes.
    y_max = np.minimum(max_rapidity, -np.log(tau) / 2)
    y = y_max[:, None] * np.linspace(-1, 1, 257)[None, :]
    x1 = np.sqrt(tau)[:, None] * np.exp(y)
    x2 = np.sqrt(tau)[:, None] * np.exp(-y)
    product = (1 + (1 - x1) ** 2) * (1 + (1 - x2) ** 2)
    density = np.trapezoid(product, y, axis=1) * _gamma_gamma_to_mumu(tau * s)

    # Both electrons' transverse-momentum integrals, at least one above the
    # minimum, times the flux constant (alpha / 2 pi) per photon.
    _, span, below = _electron_spectrum(np.sqrt(tau * s), min_electron_pt)
    density *= (ALPHA / (2 * np.pi) * span) ** 2 * (1 - below**2)
    return log_tau, density


def _eemumu_cross_section(min_w, max_w, max_rapidity, min_electron_pt):
    """Cross-section (fb) of a region of the two-photon process."""
    log_tau, density = _eemumu_tables(min_w, max_w, max_rapidity, min_electron_pt)
    return np.trapezoid(density, log_tau) * GEV2_TO_FB


def _eemumu_region():
    return (
        _EEMUMU_MIN_W,
        _EEMUMU_MAX_W,
        _EEMUMU_MAX_RAPIDITY,
        _EEMUMU_MIN_ELECTRON_PT,
    )


def _eemumu_region_cross_section():
    return _eemumu_cross_section(*_eemumu_region())


def _electron_pts(rng, w):
    """Transverse momenta of both electrons, at least one above the minimum."""
    n = w.shape[0]
    low, span, below = _electron_spectrum(w, _EEMUMU_MIN_ELECTRON_PT)

    # A uniform fraction of the log r range each. Either the first electron
    # is above the minimum (any second one), or the first is below and the
    # second above; 1 / (1 + below) is the first case's share.
    first_above = rng.random(n) < 1 / (1 + below)
    u1, u2 = rng.random(n), rng.random(n)
    f1 = np.where(first_above, below + u1 * (1 - below), u1 * below)
    f2 = np.where(first_above, u2, below + u2 * (1 - below))
    r1, r2 = np.exp(low + f1 * span), np.exp(low + f2 * span)
    return w * np.sqrt(r1 / (1 - r1)), w * np.sqrt(r2 / (1 - r2))


def _pair_rapidity(rng, tau):
    """Rapidity of the photon pair: flat times the two photon spectra."""
    y_max = np.minimum(_EEMUMU_MAX_RAPIDITY, -np.log(tau) / 2)
    y = np.empty(tau.shape[0])
    todo = np.arange(tau.shape[0])

    # Rejection against the flat envelope; it accepts at least a quarter.
    while todo.size:
        trial = y_max[todo] * (2 * rng.random(todo.size) - 1)
        x1 = np.sqrt(tau[todo]) * np.exp(trial)
        x2 = np.sqrt(tau[todo]) * np.exp(-trial)
        weight = (1 + (1 - x1) ** 2) * (1 + (1 - x2) ** 2) / 4
        accepted = rng.random(todo.size) < weight
        y[todo[accepted]] = trial[accepted]
        todo = todo[~accepted]
    return y


def _eemumu_muons(rng, n):
    """True muon momenta of the ``n`` e+e- mu+ mu- events that may pass."""
    log_tau, density = _eemumu_tables(*_eemumu_region())
    tau = np.exp(_grid_sampler(log_tau, density)(rng.random(n)))
    y = _pair_rapidity(rng, tau)
    x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
    w = SQRT_S * np.sqrt(tau)

    # Transverse kicks of the two electrons; the photon pair takes the
    # opposite of their sum. An electron scattered into the detector would
    # be seen, so those events are vetoed.
    pt1, pt2 = _electron_pts(rng, w)
    phi1, phi2 = _random_phi(rng, n), _random_phi(rng, n)
    pair = np.empty((3, n))
    pair[0] = -(pt1 * np.cos(phi1) + pt2 * np.cos(phi2))
    pair[1] = -(pt1 * np.sin(phi1) + pt2 * np.sin(phi2))
    pair[2] = np.sqrt(w**2 + pair[0] ** 2 + pair[1] ** 2) * np.sinh(y)
    sin_lost = np.sqrt(1 - ELECTRON_LOST_COS_THETA**2)
    lost = (pt1 < (1 - x1) * SQRT_S / 2 * sin_lost) & (
        pt2 < (1 - x2) * SQRT_S / 2 * sin_lost
    )

    # gamma gamma -> mu+ mu-, peaked along the collision axis.
    keep = lost & _may_pass(pair)
    w = w[keep]
    beta = np.sqrt(1 - 4 * MUON_MASS**2 / w**2)
    cos_theta = _forward_peaked(rng, w.shape[0], beta)
    return _pair_decay(rng, w, pair[:, keep], cos_theta)


# ---------------------------------------------------------------------------
# Detector: smearing, preselection and the analysis columns.
# ---------------------------------------------------------------------------
def _smear(rng, momentum, resolution):
    """Scale each momentum by 1 + delta, sigma(pT)/pT = a pT (+) b."""
    slope, constant = resolution
    sigma = np.hypot(slope * np.hypot(momentum[0], momentum[1]), constant)
    return momentum * (1 + sigma * rng.standard_normal(momentum.shape[1]))


def _reconstruct(first, second, energy_shift):
    """Preselection mask and analysis columns from the two muon momenta.

    ``energy_shift`` is the true minus the nominal collision energy of each
    event: the recoil is computed with the nominal one.
    """
    p1, p2 = _norm(first), _norm(second)
    pair = first + second
    pair_p = _norm(pair)
    pt_dimuon = np.hypot(pair[0], pair[1])
    energy = np.sqrt(p1**2 + MUON_MASS**2) + np.sqrt(p2**2 + MUON_MASS**2)

    # Preselection: both muons identified in the acceptance, the recoil
    # (opposite to the pair) in the barrel, and some dimuon pT.
    selected = (
        (np.abs(first[2]) < MUON_COS_THETA_MAX * p1)
        & (np.abs(second[2]) < MUON_COS_THETA_MAX * p2)
        & (np.minimum(p1, p2) > MIN_MUON_MOMENTUM)
        & (np.abs(pair[2]) < RECOIL_COS_THETA_MAX * pair_p)
        & (pt_dimuon > MIN_DIMUON_PT)
    )

    # Thrust axis of two particles: along p1 - p2 or p1 + p2, whichever is
    # longer; both muons have the same transverse momentum to it.
    cross = np.empty_like(first)
    cross[0] = first[1] * second[2] - first[2] * second[1]
    cross[1] = first[2] * second[0] - first[0] * second[2]
    cross[2] = first[0] * second[1] - first[1] * second[0]
    cross = _norm(cross)
    longest = np.maximum(_norm(first - second), pair_p)

    # The harder muon relative to the softer muon's direction: the cross
    # and dot products divided by the softer muon's momentum.
    soft_p = np.minimum(p1, p2)
    columns = {
        "pt_dimuon": pt_dimuon,
        "pt_thrust": cross / longest,
        "pt_muon_rel": cross / soft_p,
        "pl_muon_rel": _dot(first, second) / soft_p,
        "recoil_mass_squared": (SQRT_S - energy - energy_shift) ** 2 - pair_p**2,
    }
    return {
        name: column[selected].astype(np.float32) for name, column in columns.items()
    }


def _simulate_chunk(seed, n, draw, resolution):
    """Draw, smear and preselect one chunk of ``n`` events."""
    rng = np.random.default_rng(seed)
    first, second = draw(rng, n)
    first = _smear(rng, first, resolution)
    second = _smear(rng, second, resolution)
    shift = BEAM_ENERGY_SPREAD * rng.standard_normal(first.shape[1])
    return _reconstruct(first, second, shift)


# ---------------------------------------------------------------------------
# The public generator.
# ---------------------------------------------------------------------------
_REGION_CROSS_SECTION = {
    "mumu": _mumu_region_cross_section,
    "tautau": _tautau_region_cross_section,
    "eemumu": _eemumu_region_cross_section,
}
_DRAW = {"mumu": _mumu_muons, "tautau": _tautau_muons, "eemumu": _eemumu_muons}
_COLUMNS = [*FEATURE_NAMES, "recoil_mass_squared"]
#: Fewer selected signal events than this give no reliable width.
_MIN_EVENTS_FOR_WIDTH = 20
#: 1 / (2 * 0.6745): the standard deviation of a Gaussian per unit of IQR.
_IQR_TO_SIGMA = 0.7413

_CONSTRAINTS = {
    "n_signal_per_mass": [Interval(numbers.Integral, 1, None)],
    "masses": [NONE, ARRAY_LIKE],
    "background_scale": [Interval(numbers.Real, 0, None)],
    "luminosity": [Interval(numbers.Real, 0, None, closed="neither")],
    "widths": [NONE, ARRAY_LIKE],
    "momentum_resolution": [ARRAY_LIKE],
    "return_X_y": [BOOLEAN],
    "as_frame": [BOOLEAN],
    "n_jobs": [NONE, Interval(numbers.Integral, None, None)],
    "random_state": [RANDOM_STATE],
}


def _validate(params):
    """Check the parameters of make_zprime against their constraints."""
    for name, allowed in _CONSTRAINTS.items():
        value = params[name]
        if any(constraint(value) for constraint in allowed):
            continue
        expected = " or ".join(str(constraint) for constraint in allowed)
        raise ValueError(
            f"The {name!r} parameter of make_zprime must be {expected}. "
            f"Got {value!r} instead."
        )


def _check_masses(masses):
    if masses is None:
        return PAPER_MASSES.copy()
    masses = np.asarray(masses, dtype=float)
    if masses.ndim != 1 or masses.size == 0:
        raise ValueError(
            f"masses must be a non-empty 1-D array of Z' masses in GeV; got an "
            f"array of shape {masses.shape}."
        )
    outside = ~((masses > 0) & (masses < _MAX_MASS))
    if outside.any():
        raise ValueError(
            f"masses must lie in the kinematic range 0 < m < sqrt(s) - 2 m_mu "
            f"= {_MAX_MASS:.4f} GeV; got {float(masses[outside][0])!r}."
        )
    if np.unique(masses).size != masses.size:
        raise ValueError("masses must not contain duplicates.")
    return masses


def _check_widths(widths, n_masses):
    widths = np.asarray(widths, dtype=float)
    if widths.shape != (n_masses,):
        raise ValueError(
            f"widths must have one entry per mass, shape ({n_masses},); got "
            f"shape {widths.shape}."
        )
    if not np.all(np.isfinite(widths) & (widths > 0)):
        bad = float(widths[~(np.isfinite(widths) & (widths > 0))][0])
        raise ValueError(f"widths must be positive and finite (GeV^2); got {bad!r}.")
    return widths


def _check_resolution(resolution):
    values = np.asarray(resolution, dtype=float)
    if values.shape != (2,) or not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(
            "momentum_resolution must be a pair (a, b) of non-negative numbers, "
            f"sigma(pT) / pT = a pT (+) b with pT in GeV; got {resolution!r}."
        )
    return tuple(values)


def _n_threads(n_jobs):
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, 1 or -1.")
    return n_jobs


def _chunk_tasks(key, n, draw, resolution, entropy):
    """Tasks of at most _CHUNK events, each seeded from (key, chunk index)."""
    return [
        (
            np.random.SeedSequence(entropy, spawn_key=(*key, index)),
            min(_CHUNK, n - start),
            draw,
            resolution,
        )
        for index, start in enumerate(range(0, n, _CHUNK))
    ]


def _run(tasks, n_threads):
    if n_threads == 1 or len(tasks) <= 1:
        return [_simulate_chunk(*task) for task in tasks]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(lambda task: _simulate_chunk(*task), tasks))


def _concatenate(parts):
    if not parts:
        return {name: np.empty(0, np.float32) for name in _COLUMNS}
    return {name: np.concatenate([part[name] for part in parts]) for name in _COLUMNS}


def _measure_widths(recoil_mass_squared, hypothesis, masses):
    """Robust width (0.7413 x IQR, GeV^2) of each mass's recoil-mass peak."""
    widths = np.full(masses.shape[0], np.nan)
    for index in range(masses.shape[0]):
        values = recoil_mass_squared[hypothesis == index]
        if values.shape[0] >= _MIN_EVENTS_FOR_WIDTH:
            q25, q75 = np.percentile(values, [25, 75])
            widths[index] = _IQR_TO_SIGMA * (q75 - q25)
    if np.isnan(widths).any():
        warnings.warn(
            f"Fewer than {_MIN_EVENTS_FOR_WIDTH} signal events pass the "
            f"preselection for the masses {masses[np.isnan(widths)].tolist()}; "
            "their widths are NaN. Increase n_signal_per_mass or pass widths.",
            UserWarning,
            stacklevel=3,
        )
    return widths


def make_zprime(
    n_signal_per_mass=1000,
    *,
    masses=None,
    background_scale=0.03,
    luminosity=50.0,
    widths=None,
    momentum_resolution=(0.0008, 0.003),
    return_X_y=False,
    as_frame=True,
    n_jobs=None,
    random_state=None,
):
    r"""Generate the Z' to invisible benchmark of the Punzi-loss paper.

    A fast toy Monte Carlo, in the :math:`e^+e^-` centre-of-mass frame at
    :math:`\sqrt{s} = 10.58` GeV, of the search for
    :math:`e^+e^- \to \mu^+\mu^- Z'` with an invisible :math:`Z'`: signal
    samples for a list of :math:`Z'` masses and the three backgrounds that
    mimic them, :math:`\mu^+\mu^-(\gamma)`, :math:`\tau^+\tau^-` and
    :math:`e^+e^-\mu^+\mu^-`, each with its own Monte Carlo luminosity. Only
    the two muons are observed; every column is computed from their smeared
    momenta after a fixed preselection (see Notes).

    Parameters
    ----------
    n_signal_per_mass : int, default=1000
        Number of signal events generated per mass, before the preselection
        (the paper: 20 000).
    masses : array-like of shape (n_masses,), default=None
        :math:`Z'` masses in GeV, each in :math:`0 < m < \sqrt{s} - 2 m_\mu`.
        None means the paper's 89 masses, 0.1 to 8.9 GeV in steps of 0.1 GeV.
    background_scale : float, default=0.03
        Size of the background samples as a fraction of the full-size Monte
        Carlo luminosities: 3000 fb\ :sup:`-1` of :math:`\mu^+\mu^-(\gamma)`,
        450 fb\ :sup:`-1` of :math:`\tau^+\tau^-` and 40 fb\ :sup:`-1` of
        :math:`e^+e^-\mu^+\mu^-` at 1.0. Zero generates signal only.
    luminosity : float, default=50.0
        Target integrated luminosity :math:`L` in fb\ :sup:`-1` that the
        background weights are scaled to.
    widths : array-like of shape (n_masses,), default=None
        Width (one standard deviation, GeV\ :sup:`2`) of each mass's signal
        peak in the recoil mass squared. None measures it from the generated
        signal as :math:`0.7413 \times` the interquartile range.
    momentum_resolution : pair of float, default=(0.0008, 0.003)
        Relative transverse-momentum resolution
        :math:`\sigma_{p_T}/p_T = a\,p_T \oplus b` (:math:`p_T` in GeV), applied
        as a scale factor to each muon's momentum.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=True
        If True, ``data`` is a DataFrame, ``target`` and ``weight`` are Series
        and ``frame`` holds every column; otherwise they are numpy arrays and
        ``frame`` is None.
    n_jobs : int, default=None
        Number of threads that generate chunks of events in parallel; None
        means 1 and -1 all processors. The result does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the generation. Pass an int for reproducible output across
        calls. Each background and each mass draws from its own stream, so
        changing ``n_signal_per_mass`` or ``masses`` leaves the background
        events (and the events of the other masses) unchanged.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        frame : DataFrame of shape (n_samples, 10) or None
            Every column below, one row per preselected event; rows are
            grouped by category (signal by mass, then ``"mumu"``,
            ``"tautau"``, ``"eemumu"``): shuffle before slicing.
        data : DataFrame or ndarray of shape (n_samples, 4), float32
            The four features ``feature_names``, in GeV.
        target : Series or ndarray of shape (n_samples,), int8
            ``label``: 1 for signal, 0 for background.
        weight : Series or ndarray of shape (n_samples,), float64
            Background: :math:`L / L_\mathrm{MC}` of its category, so that
            weighted sums are expected yields at ``luminosity``. Signal:
            :math:`1 / N_\mathrm{gen}` of its mass, with :math:`N_\mathrm{gen}`
            counted before the preselection, so that weighted sums are
            efficiencies.
        recoil_mass_squared : Series or ndarray of shape (n_samples,), float32
            Mass squared recoiling against the dimuon, GeV\ :sup:`2`; may be
            negative through resolution.
        hypothesis : Series or ndarray of shape (n_samples,), int32
            Index into ``masses`` of a signal event's mass; -1 for background.
        generated_mass : Series or ndarray of shape (n_samples,), float64
            The :math:`Z'` mass of a signal event; NaN for background.
        category : Series (Categorical) or ndarray of shape (n_samples,)
            ``"signal"``, ``"mumu"``, ``"tautau"`` or ``"eemumu"``.
        feature_names : list of str
            ``["pt_dimuon", "pt_thrust", "pt_muon_rel", "pl_muon_rel"]``.
        target_names : list of str
            ``["background", "signal"]``.
        masses : ndarray of shape (n_masses,)
            The :math:`Z'` masses, GeV.
        widths : ndarray of shape (n_masses,)
            Width of each mass's peak in the recoil mass squared,
            GeV\ :sup:`2`; the hypothesis windows are
            :math:`|M^2_\mathrm{rec} - m^2| < n_\sigma\,w`.
        luminosity : float
            The target luminosity, fb\ :sup:`-1`.
        mc_luminosity : dict of str to float
            Monte Carlo luminosity :math:`L_\mathrm{MC}` of each background,
            fb\ :sup:`-1`.
        cross_sections : dict of str to float
            Cross-section (fb) of each background's generated phase-space
            region, before the preselection.
        n_generated : dict of str to int or ndarray
            Events generated before the preselection: per background, and
            under ``"signal"`` an array with one count per mass.
        DESCR : str
            A short description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The features and the labels, as described above.

    See Also
    --------
    skpunzi.mass_windows : The hypothesis windows from ``recoil_mass_squared``,
        ``masses`` and ``widths``.

    Notes
    -----
    **Frame and detector.** Everything is computed in the centre-of-mass
    frame; the lab-frame acceptances of Belle II are mapped to symmetric
    cuts there (the boost :math:`\beta\gamma = 0.28` is otherwise ignored).
    Each muon momentum is scaled by :math:`1 + \delta`, with :math:`\delta`
    Gaussian of width :math:`a\,p_T \oplus b` (0.3 % at 1 GeV, 0.5 % at
    5 GeV by default), and the recoil is computed with the nominal collision
    energy while the true one spreads by 5 MeV. Angular resolution, energy
    loss, muon misidentification (e.g. :math:`\tau \to \pi\nu` with the pion
    taken for a muon) and trigger efficiencies are not simulated.

    **Preselection** (which defines the data set): both muons with
    :math:`|\cos\theta^*| < 0.92` (lab 17 to 150 degrees) and momentum above
    0.5 GeV; the recoil momentum pointing into the barrel calorimeter,
    :math:`|\cos\theta^*_\mathrm{rec}| < 0.75` (lab 33 to 128 degrees), where a
    photon carrying it would be seen; dimuon transverse momentum above
    0.5 GeV, which removes radiationless :math:`\mu^+\mu^-` events.

    **Signal.** The :math:`Z'` is radiated off a muon line, in the collinear
    (splitting) approximation: the virtual muon mass squared :math:`Q^2` is
    drawn from the propagator :math:`1/(Q^2 - m_\mu^2)` times the two-body
    phase space of :math:`e^+e^- \to \mu\mu^*`, the :math:`Z'` energy
    fraction :math:`z` of the virtual muon from the splitting function
    :math:`(1 + (1-z)^2)/z` within its kinematic limits, and the virtual muon
    direction from :math:`1 + \cos^2\theta`. The recoil mass of a signal
    event is the :math:`Z'` mass up to resolution (no initial-state
    radiation, so no radiative tail). The efficiency is about 0.45 at
    0.1 GeV, 0.6 from 1 to 5 GeV and 0.3 at 8.9 GeV; the peak width in
    :math:`M^2_\mathrm{rec}` grows from 0.13 GeV\ :sup:`2` at 0.1 GeV to
    0.24 GeV\ :sup:`2` around 3 GeV and falls to 0.11 GeV\ :sup:`2` at
    8.9 GeV (in :math:`M_\mathrm{rec}` it is broad at low masses).

    **Backgrounds** (visible cross-sections after the preselection, from
    this generator, in brackets):

    - :math:`e^+e^- \to \mu^+\mu^-\gamma` (about 0.11 pb): the Born
      cross-section :math:`4\pi\alpha^2/3s = 0.78` nb (1.15 nb with
      radiative corrections), a hard initial-state photon with spectrum
      :math:`(1 + (1-x)^2)/(x(1-x))` and angular distribution
      :math:`1/\sin^2\theta`, missed in the barrel with probability 0.005
      (cracks, conversions, overlap with a muon's cluster: an educated
      guess). Recoil mass squared near zero, dimuon :math:`p_T` balancing
      the photon, so it only matters for the lowest masses.
    - :math:`e^+e^- \to \tau^+\tau^-` (about 12 pb): 0.919 nb times
      :math:`\mathcal{B}(\tau \to \mu\nu\bar\nu)^2 = 0.1739^2`, taus with
      :math:`1 + \cos^2\theta`, muons from the Michel spectrum
      :math:`x^2(3 - 2x)`, isotropic in the tau rest frame (no tau
      polarisation or spin correlation, no radiation). A broad recoil mass.
    - :math:`e^+e^- \to e^+e^-\mu^+\mu^-` (about 80 pb): the
      equivalent-photon approximation, photon spectra
      :math:`(1 + (1-x)^2)/x` times the Breit-Wheeler
      :math:`\gamma\gamma \to \mu^+\mu^-` cross-section, electron transverse
      momenta from :math:`dp_T^2/p_T^2` damped by :math:`W^2/(W^2 + p_T^2)`
      (20 nb in total for :math:`W_{\mu\mu} > 0.5` GeV, close to the 19 nb
      of full calculations); both electrons lost at
      :math:`|\cos\theta^*| > 0.95` (otherwise the event is vetoed), muons
      peaked along the collision axis as :math:`1/(1 - \beta^2\cos^2\theta)`.
      Soft dimuons at large recoil mass (mostly above 50 GeV\ :sup:`2`).
      Only :math:`W_{\mu\mu} > 1.2` GeV is generated: lower masses would
      add about as much again below 80 GeV\ :sup:`2`, as very collinear
      dimuons, at a cost of many more generated events.

    Otherwise only phase-space regions that cannot pass the preselection are
    left out (photons below 0.3 GeV or outside :math:`|\cos\theta^*| < 0.8`
    for :math:`\mu^+\mu^-\gamma`; pair rapidity above 1 or both electron
    :math:`p_T` below 0.22 GeV for :math:`e^+e^-\mu^+\mu^-`). The
    cross-sections of the generated regions are computed by numerical
    integration and reported in ``cross_sections``;
    :math:`L_\mathrm{MC} = N_\mathrm{gen} / \sigma_\mathrm{region}`, so the
    background weights of the :math:`N_\mathrm{gen}` generated events would
    sum to :math:`\sigma_\mathrm{region} L` and those of the preselected
    events sum to the expected visible yield. The paper's samples were
    3000, 450 and 1000 fb\ :sup:`-1`; here the two-photon sample is
    40 fb\ :sup:`-1` at ``background_scale=1`` (weight 1.25 at
    50 fb\ :sup:`-1`), because its visible cross-section in this model is
    large: 1000 fb\ :sup:`-1` would take :math:`7 \times 10^8` generated
    events. ``background_scale=1`` with ``n_signal_per_mass=20000`` gives
    about 10 million events, half of them in the :math:`\pm 2\sigma`
    windows of the 89 masses.

    **Features** (table 1 of the Belle II analysis, all centre-of-mass):
    ``pt_dimuon``, the transverse momentum of the dimuon;
    ``pt_thrust``, the transverse momentum of a muon relative to the thrust
    axis of the two muons (along :math:`p_1 \pm p_2`, whichever is longer;
    both muons share it); ``pt_muon_rel`` and ``pl_muon_rel``, the transverse
    and longitudinal momentum of the harder muon relative to the softer
    muon's direction.

    **Dtypes.** Features and ``recoil_mass_squared`` are float32, weights
    and ``generated_mass`` float64, ``hypothesis`` int32 and the label int8:
    about 40 bytes per event.

    References
    ----------
    .. [1] I. Adachi et al. (Belle II), "Search for an invisibly decaying
       Z' boson at Belle II in e+e- -> mu+mu-(e+-mu-+) plus missing
       energy final states", Phys. Rev. Lett. 124 (2020) 141801.
    .. [2] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.

    Examples
    --------
    >>> from skpunzi.datasets import make_zprime
    >>> data = make_zprime(
    ...     200, masses=[1.0, 5.0], background_scale=0.001, random_state=0
    ... )
    >>> data.feature_names
    ['pt_dimuon', 'pt_thrust', 'pt_muon_rel', 'pl_muon_rel']
    >>> data.frame["category"].cat.categories.tolist()
    ['signal', 'mumu', 'tautau', 'eemumu']
    >>> bool(data.weight[data.target == 1].sum() < 2)
    True
    >>> X, y = make_zprime(200, masses=[1.0], background_scale=0.001,
    ...                    return_X_y=True, random_state=0)
    >>> X.shape[1]
    4
    """
    _validate(locals())
    masses = _check_masses(masses)
    resolution = _check_resolution(momentum_resolution)
    if widths is not None:
        widths = _check_widths(widths, masses.shape[0])
    n_threads = _n_threads(n_jobs)
    entropy = check_random_state(random_state).randint(0, 2**32, size=4).tolist()

    # One task list, signal masses first; every chunk has its own seed.
    tasks, owners = [], []
    for index, mass in enumerate(masses):
        key = (0, int(round(mass * 1e6)))
        draw = partial(_signal_draw, mass=float(mass))
        chunk_tasks = _chunk_tasks(key, n_signal_per_mass, draw, resolution, entropy)
        tasks += chunk_tasks
        owners += [("signal", index)] * len(chunk_tasks)
    n_generated, mc_luminosity, cross_sections = {}, {}, {}
    for index, name in enumerate(_BACKGROUNDS):
        cross_sections[name] = float(_REGION_CROSS_SECTION[name]())
        target = background_scale * FULL_MC_LUMINOSITY[name]
        n_generated[name] = int(round(cross_sections[name] * target))
        mc_luminosity[name] = n_generated[name] / cross_sections[name]
        chunk_tasks = _chunk_tasks(
            (1 + index,), n_generated[name], _DRAW[name], resolution, entropy
        )
        tasks += chunk_tasks
        owners += [(name, -1)] * len(chunk_tasks)
    n_generated["signal"] = np.full(masses.shape[0], n_signal_per_mass)
    parts = _run(tasks, n_threads)

    # Bookkeeping columns, built per part from who generated it.
    columns = _concatenate(parts)
    sizes = [part["pt_dimuon"].shape[0] for part in parts]
    names = [owner[0] for owner in owners]
    hypothesis = np.repeat([owner[1] for owner in owners], sizes).astype(np.int32)
    category = np.repeat([CATEGORIES.index(name) for name in names], sizes)
    per_part_weight = [
        1 / n_signal_per_mass if name == "signal" else luminosity / mc_luminosity[name]
        for name in names
    ]
    weight = np.repeat(np.asarray(per_part_weight, dtype=float), sizes)
    generated_mass = np.full(weight.shape[0], np.nan)
    is_signal = hypothesis >= 0
    generated_mass[is_signal] = masses[hypothesis[is_signal]]
    if widths is None:
        widths = _measure_widths(columns["recoil_mass_squared"], hypothesis, masses)

    return _package(
        columns,
        hypothesis=hypothesis,
        category=category,
        weight=weight,
        generated_mass=generated_mass,
        extras=dict(
            masses=masses,
            widths=widths,
            luminosity=float(luminosity),
            mc_luminosity=mc_luminosity,
            cross_sections=cross_sections,
            n_generated=n_generated,
        ),
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def _signal_draw(rng, n, mass):
    return _signal_muons(rng, n, mass)


_DESCR = """\
Toy Monte Carlo of e+e- -> mu+ mu- Z' (Z' invisible) at sqrt(s) = 10.58 GeV
with the mu mu (gamma), tau tau and e e mu mu backgrounds, after a Belle II
like preselection. Four features (pt_dimuon, pt_thrust, pt_muon_rel,
pl_muon_rel), the recoil mass squared that defines the hypothesis windows,
and weights: expected yields at the target luminosity for background,
efficiencies for signal. See skpunzi.datasets.make_zprime for the physics.
"""


def _package(
    columns,
    *,
    hypothesis,
    category,
    weight,
    generated_mass,
    extras,
    return_X_y,
    as_frame,
):
    """Arrange the columns as a Bunch or an (X, y) pair."""
    label = (hypothesis >= 0).astype(np.int8)
    data = np.column_stack([columns[name] for name in FEATURE_NAMES])
    if as_frame:
        frame = pd.DataFrame({name: columns[name] for name in FEATURE_NAMES})
        frame["recoil_mass_squared"] = columns["recoil_mass_squared"]
        frame["generated_mass"] = generated_mass
        frame["hypothesis"] = hypothesis
        frame["category"] = pd.Categorical.from_codes(category, CATEGORIES)
        frame["label"] = label
        frame["weight"] = weight
        if return_X_y:
            return frame[FEATURE_NAMES], frame["label"]
        fields = {name: frame[name] for name in _EXTRA_COLUMNS}
        fields.update(frame=frame, data=frame[FEATURE_NAMES], target=frame["label"])
    else:
        if return_X_y:
            return data, label
        fields = dict(
            frame=None,
            data=data,
            target=label,
            weight=weight,
            recoil_mass_squared=columns["recoil_mass_squared"],
            hypothesis=hypothesis,
            generated_mass=generated_mass,
            category=np.asarray(CATEGORIES, dtype=object)[category],
        )
    return Bunch(
        **fields,
        feature_names=list(FEATURE_NAMES),
        target_names=["background", "signal"],
        DESCR=_DESCR,
        **extras,
    )


_EXTRA_COLUMNS = [
    "weight",
    "recoil_mass_squared",
    "hypothesis",
    "generated_mass",
    "category",
]
