"""
==========================================
The Z' benchmark data set at a glance
==========================================

:func:`skpunzi.datasets.make_zprime` simulates the search for
:math:`e^+e^- \\to \\mu^+\\mu^- Z'` with an invisible :math:`Z'` at
:math:`\\sqrt{s} = 10.58` GeV, with the three backgrounds that mimic it. This
example draws the distributions a physicist would look at first: the recoil
mass squared, in which the search looks for a peak, and the four features a
classifier is trained on, each split by category.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# Generate a small sample
# -----------------------
# A few hundred signal events per mass and a few percent of the full
# background luminosity are enough to see the shapes. Background weights are
# expected yields at 50 fb^-1; signal weights are efficiencies.
import matplotlib.pyplot as plt
import numpy as np

from skpunzi.datasets import make_zprime

data = make_zprime(500, background_scale=0.02, random_state=0)
frame = data.frame
print(frame.groupby("category", observed=True)["weight"].agg(["size", "sum"]))

# %%
# The recoil mass squared
# -----------------------
# Backgrounds are drawn as expected yields at 50 fb^-1. The signal of every
# tenth mass is drawn for a cross-section of 10 fb, so each peak holds
# efficiency x 10 fb x 50 fb^-1 events: :math:`\mu^+\mu^-(\gamma)` sits at
# zero, :math:`\tau^+\tau^-` is broad, :math:`e^+e^-\mu^+\mu^-` piles up
# at high recoil mass.
colors = {"mumu": "C0", "tautau": "C1", "eemumu": "C2"}
bins = np.linspace(-2, 90, 185)
fig, ax = plt.subplots(figsize=(8, 4.5))
background = frame[frame["label"] == 0]
ax.hist(
    [
        background.loc[background["category"] == c, "recoil_mass_squared"]
        for c in colors
    ],
    bins=bins,
    weights=[background.loc[background["category"] == c, "weight"] for c in colors],
    stacked=True,
    color=list(colors.values()),
    label=list(colors),
)
shown = frame[(frame["label"] == 1) & (frame["hypothesis"] % 10 == 4)]
ax.hist(
    shown["recoil_mass_squared"],
    bins=bins,
    weights=shown["weight"] * 10 * data.luminosity,
    histtype="step",
    color="k",
    label="signal, 10 fb (every 10th mass)",
)
ax.set_yscale("log")
ax.set_xlabel(r"recoil mass squared $M^2_\mathrm{rec}$ [GeV$^2$]")
ax.set_ylabel("events / 0.5 GeV$^2$ at 50 fb$^{-1}$")
ax.legend()
fig.tight_layout()

# %%
# Widths of the signal peaks
# --------------------------
# The windows of the search are :math:`\pm 2\sigma` around each
# :math:`m_{Z'}^2`. In :math:`M^2` the resolution is widest at intermediate
# masses; in :math:`M` it is widest at low masses.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.plot(data.masses, data.widths, ".")
left.set_xlabel(r"$m_{Z'}$ [GeV]")
left.set_ylabel(r"width in $M^2_\mathrm{rec}$ [GeV$^2$]")
efficiency = frame[frame["label"] == 1].groupby("hypothesis")["weight"].sum()
right.plot(data.masses[efficiency.index], efficiency, ".")
right.set_xlabel(r"$m_{Z'}$ [GeV]")
right.set_ylabel("signal efficiency")
fig.tight_layout()

# %%
# The four features
# -----------------
# Each category is normalised to unit area, so shapes rather than yields
# are compared. The signal here is every mass together; the classifier sees
# it window by window, next to the background in the same window.
limits = {
    "pt_dimuon": (0, 5.5),
    "pt_thrust": (0, 2.5),
    "pt_muon_rel": (0, 5.5),
    "pl_muon_rel": (-5.5, 5.5),
}
fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
for ax, (name, (low, high)) in zip(axes.ravel(), limits.items(), strict=True):
    bins = np.linspace(low, high, 56)
    for category, color in {"signal": "k", **colors}.items():
        rows = frame["category"] == category
        ax.hist(
            frame.loc[rows, name],
            bins=bins,
            weights=frame.loc[rows, "weight"],
            density=True,
            histtype="step",
            color=color,
            label=category,
        )
    ax.set_xlabel(f"{name} [GeV]")
axes[0, 0].legend()
fig.tight_layout()

# %%
# One window
# ----------
# Around :math:`m_{Z'} = 5` GeV the background is almost all
# :math:`\tau^+\tau^-`; this is what a selection has to beat there.
index = int(np.argmin(np.abs(data.masses - 5.0)))
in_window = np.abs(frame["recoil_mass_squared"] - 25.0) < 2 * data.widths[index]
window = frame[in_window & ((frame["label"] == 0) | (frame["hypothesis"] == index))]
fig, ax = plt.subplots(figsize=(5, 4))
for label, color, text in [(0, "C1", "background"), (1, "k", "signal, 5 GeV")]:
    rows = window["label"] == label
    ax.scatter(
        window.loc[rows, "pt_dimuon"],
        window.loc[rows, "pt_muon_rel"],
        s=3,
        alpha=0.5,
        color=color,
        label=text,
    )
ax.set_xlabel("pt_dimuon [GeV]")
ax.set_ylabel("pt_muon_rel [GeV]")
ax.legend()
fig.tight_layout()
plt.show()
