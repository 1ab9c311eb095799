"""The Punzi sensitivity, the quantity the Punzi-loss averages over hypotheses."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

__all__ = ["punzi_sensitivity", "FORMULAS"]

#: Names accepted by the ``formula`` argument everywhere in skpunzi.
FORMULAS = ("paper", "refined")


def punzi_sensitivity(
    efficiency, background, *, a=3.0, b=1.28, luminosity=1.0, formula="paper"
):
    r"""Minimum detectable cross-section for a given efficiency and background.

    Works on numpy arrays, Python scalars and torch tensors alike (the same
    expression is evaluated, so torch autograd differentiates it).

    Parameters
    ----------
    efficiency : array-like or torch.Tensor
        Signal efficiency :math:`\varepsilon` after the selection.
    background : array-like or torch.Tensor
        Expected number of background events :math:`B` after the selection,
        at the target luminosity. Must not be negative.
    a : float, default=3.0
        Number of sigmas of the one-sided test for discovery (significance
        :math:`\alpha`).
    b : float, default=1.28
        Number of sigmas of the one-sided test for exclusion (confidence level
        :math:`1-\beta`; 1.28 is 90 %).
    luminosity : float, default=1.0
        Target integrated luminosity :math:`L`. With the default the result is
        a cross-section in units of the inverse luminosity used for the weights.
    formula : {"paper", "refined"}, default="paper"
        ``"paper"`` is the formula of the Punzi-loss paper,

        .. math::

            \sigma_{\min} = \frac{b^2/2 + a\sqrt{B}
            + \frac{b}{2}\sqrt{b^2 + 4a\sqrt{B} + 4B}}{\varepsilon L}.

        ``"refined"`` replaces the constant :math:`b^2/2` by
        :math:`a^2/8 + 9b^2/13`, the more accurate approximation of Punzi's
        original note, also used by the paper's public reference code.

    Returns
    -------
    sensitivity : ndarray or torch.Tensor
        :math:`\sigma_{\min}`, smaller is better. Zero efficiency gives ``inf``.

    See Also
    --------
    PunziLoss : The differentiable mean sensitivity over hypotheses.
    punzi_fom : The figure of merit :math:`1/\sigma_{\min}` after a cut.

    References
    ----------
    .. [1] G. Punzi, "Sensitivity of searches for new signals and its
       optimization", PHYSTAT 2003, arXiv:physics/0308063.
    .. [2] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.

    Examples
    --------
    >>> from skpunzi import punzi_sensitivity
    >>> round(float(punzi_sensitivity(0.5, 4.0, a=3, b=1.28)), 4)
    21.898
    """
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {FORMULAS}, got {formula!r}.")
    if not np.isscalar(efficiency) and not hasattr(efficiency, "__array__"):
        efficiency = np.asarray(efficiency, dtype=float)
    if not np.isscalar(background) and not hasattr(background, "__array__"):
        background = np.asarray(background, dtype=float)

    # ``x ** 0.5`` rather than np.sqrt / torch.sqrt: one expression serves
    # numpy and torch, and torch autograd sees every operation.
    if formula == "paper":
        constant = b**2 / 2
    else:
        constant = a**2 / 8 + 9 * b**2 / 13
    root_background = background**0.5
    numerator = (
        constant
        + a * root_background
        + b / 2 * (b**2 + 4 * a * root_background + 4 * background) ** 0.5
    )

    if isinstance(efficiency, np.ndarray) or np.isscalar(efficiency):
        with np.errstate(divide="ignore"):
            return numerator / (np.asarray(efficiency, dtype=float) * luminosity)
    return numerator / (efficiency * luminosity)
