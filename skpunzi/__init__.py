"""skpunzi: neural-network selections trained on the Punzi figure of merit.

A scikit-learn classifier (:class:`PunziClassifier`) whose network is
fine-tuned on the Punzi-loss, the differentiable stand-in for the Punzi
sensitivity that searches for new particles optimise, with the metric, the
scorer and the window helper a search needs.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

from ._classifier import PunziClassifier
from ._loss import PunziLoss
from ._sensitivity import punzi_sensitivity

__version__ = "0.1.0"

__all__ = [
    "PunziClassifier",
    "PunziLoss",
    "punzi_sensitivity",
]
