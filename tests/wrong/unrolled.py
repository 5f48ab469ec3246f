"""WRONG on purpose: differentiates through the iterations instead of implicitly.

Its gradient is about right once converged, but the autograd graph grows with the
number of iterations. Caught by: graph_growth (hint: "unrolled").
"""


def fixed_point(f, a, x0, distance, tol):
    step = f(a)
    x_prev, x = x0, step(x0)
    while distance(x, x_prev) > tol:
        x_prev, x = x, step(x)
    return x
