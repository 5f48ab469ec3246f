"""An infinite loop: x_prev is never updated, so distance(x, x_prev) measures the
distance to x0, which stays above tol forever (and there is no iteration cap)."""


def fixed_point(f, a, x0, distance, tol):
    step = f(a)
    x_prev = x0
    x = step(x0)
    while distance(x, x_prev) > tol:
        x = step(x)  # BUG: forgot x_prev = x
    return x
