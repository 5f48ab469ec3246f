"""Unrolled: iterate with autograd on and let it differentiate through every step.

The gradient comes out nearly right, but the graph grows with the number of
iterations (memory and time grow with 1/tol) and the backward re-evaluates f
at every iterate instead of only at the fixed point.
"""

MAX_ITER = 10_000


def fixed_point(f, a, x0, distance, tol):
    step = f(a)
    x = x0
    for _ in range(MAX_ITER):
        x_prev, x = x, step(x)  # BUG: the graph records every iteration
        if distance(x, x_prev) <= tol:
            return x
    return x
