"""Benchmark data sets for searches optimised with the Punzi figure of merit.

The generators follow the conventions of :mod:`sklearn.datasets`: a
``random_state``, a :class:`~sklearn.utils.Bunch` by default, ``as_frame``
and ``return_X_y``.
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

from ._zprime import make_zprime

__all__ = ["make_zprime"]
