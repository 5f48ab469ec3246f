"""Confirms by hand the HIPS autograd row of docs/conformance.md, on the library itself.

1. singular_map: at a double fixed point (f(a)(x) = x - x**2 + a at a = 0, where
   I - f_x is singular) autograd.misc.fixed_points.fixed_point iterates with no cap:
   x_k ~ 1/k, so distance <= tol takes ~1/sqrt(tol) steps (more than the suite's
   3 s deadline), then returns a finite x and gradient, with no warning.
2. closure_gradient fails through our torch bridge (examples/peers/autograd_fixed_point.py):
   the bridge hands HIPS numpy copies, so a torch tensor captured by f is invisible
   to it.  That cell is about the bridge, not about HIPS autograd.
"""

from __future__ import annotations

import time
import warnings

import autograd.numpy as np
from autograd import grad
from autograd.misc.fixed_points import fixed_point

warnings.simplefilter("error")


def distance(x, x_prev):
    return np.abs(x - x_prev)


for tol in (1e-6, 1e-8, 1e-10):
    start = time.monotonic()
    x_star = fixed_point(lambda a: lambda x: x - x**2 + a, 0.0, 0.0625, distance, tol)
    g = grad(lambda a: fixed_point(lambda a_: lambda x: x - x**2 + a_, a, 0.0625, distance, tol))(0.0)
    print(f"1. tol={tol:g}: x = {x_star:.3g}, dx/da = {g:.3g} in {time.monotonic() - start:.1f} s, no warning (x* = 0, dx/da infinite)")
