"""Mistake: the returned fixed point is detached, so no gradient reaches a (autograd's None).

The forward is right (plain iteration to tol); the result is built with .detach() at
every step, as a student who "only needs the value" writes it.  Diagnosis: no_gradient.
"""

import torch


def fixed_point(f, a, x0, distance, tol):
    x = x0.detach()
    for _ in range(10_000):
        x_new = f(a)(x).detach()
        if distance(x_new, x) <= tol:
            return x_new
        x = x_new
    return x


__all__ = ["fixed_point", "torch"]
