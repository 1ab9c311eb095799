"""skpunzi: neural-network selections trained on the Punzi figure of merit.

A scikit-learn classifier (:class:`PunziClassifier`) whose network is
fine-tuned on the Punzi-loss, the differentiable stand-in for the Punzi
sensitivity that searches for new particles optimise, with the metric, the
scorer, the window helper and the plots a search needs.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

from . import datasets
from ._classifier import PunziClassifier
from ._display import (
    OutputDistributionDisplay,
    PunziFOMDisplay,
    TrainingHistoryDisplay,
)
from ._loss import PunziLoss
from ._metrics import punzi_fom
from ._scorer import make_punzi_scorer, punzi_score
from ._sensitivity import punzi_sensitivity
from ._windows import mass_windows

__version__ = "0.1.0"

__all__ = [
    "OutputDistributionDisplay",
    "PunziClassifier",
    "PunziFOMDisplay",
    "PunziLoss",
    "TrainingHistoryDisplay",
    "datasets",
    "make_punzi_scorer",
    "mass_windows",
    "punzi_fom",
    "punzi_score",
    "punzi_sensitivity",
]


def __dir__():
    return __all__ + ["__version__"]
