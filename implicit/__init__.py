"""Implicit differentiation in PyTorch: roots and fixed points with exact
implicit-function-theorem gradients (first and second order, reverse and
forward mode), typed errors and no silent failure."""

from ._common import RootInfo
from ._errors import (
    ImplicitError,
    ImplicitWarning,
    NonConvergenceError,
    SingularJacobianError,
)
from ._fixed_point import fixed_point
from ._root import root_find

__all__ = [
    "ImplicitError",
    "ImplicitWarning",
    "NonConvergenceError",
    "RootInfo",
    "SingularJacobianError",
    "fixed_point",
    "root_find",
]
