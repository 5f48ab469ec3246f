"""Hostile (or just careless): does not parse."""


def fixed_point(f, a, x0, distance, tol)
    return x0
