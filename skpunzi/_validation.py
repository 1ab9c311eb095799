"""Declarative validation of estimator parameters.

Every bad-parameter error has the same shape: the parameter, the estimator,
what is allowed and the value received. (scikit-learn's own machinery for
this is private, so skpunzi keeps a small one of its own.)
"""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np

__all__ = [
    "Interval",
    "Options",
    "validate_params",
]


class Interval:
    """A real or integral number between ``low`` and ``high``."""

    def __init__(self, kind, low=None, high=None, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.low is not None and (
            value < self.low
            or (value == self.low and self.closed in ("right", "neither"))
        ):
            return False
        if self.high is not None and (
            value > self.high
            or (value == self.high and self.closed in ("left", "neither"))
        ):
            return False
        return True

    def __str__(self):
        name = "an int" if self.kind is numbers.Integral else "a float"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{name} in the range {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of values."""

    def __init__(self, *options):
        self.options = options

    def __call__(self, value):
        return isinstance(value, (str, bool, type(None))) and value in self.options

    def __str__(self):
        return "one of " + ", ".join(repr(option) for option in self.options)


class _Described:
    def __init__(self, test, description):
        self.test, self.description = test, description

    def __call__(self, value):
        return self.test(value)

    def __str__(self):
        return self.description


NONE = _Described(lambda value: value is None, "None")
BOOLEAN = _Described(
    lambda value: isinstance(value, (bool, np.bool_)), "a bool (True or False)"
)
CALLABLE = _Described(callable, "a callable")
ARRAY_LIKE = _Described(
    lambda value: hasattr(value, "__len__") and not isinstance(value, str),
    "an array-like",
)
RANDOM_STATE = _Described(
    lambda value: (
        value is None
        or (isinstance(value, numbers.Integral) and not isinstance(value, bool))
        or isinstance(value, np.random.RandomState)
    ),
    "None, an int or a numpy RandomState",
)
SIZES = _Described(
    lambda value: (
        isinstance(value, (tuple, list))
        and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in value
        )
    ),
    "a tuple of positive ints",
)


def validate_params(estimator, constraints):
    """Check every parameter of ``estimator`` against its constraints.

    Parameters
    ----------
    estimator : BaseEstimator
    constraints : dict of str to list of callables
        A parameter is valid when any of its constraints accepts it.
    """
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        value = params[name]
        if any(constraint(value) for constraint in allowed):
            continue
        if len(allowed) == 1:
            expected = str(allowed[0])
        else:
            expected = ", ".join(str(c) for c in allowed[:-1]) + f" or {allowed[-1]}"
        raise ValueError(
            f"The {name!r} parameter of {type(estimator).__name__} must be "
            f"{expected}. Got {value!r} instead."
        )


DICT = _Described(lambda value: isinstance(value, dict), "a dict")
DEVICE = _Described(
    lambda value: isinstance(value, str) or type(value).__name__ == "device",
    "a torch device name such as 'cuda:1'",
)
