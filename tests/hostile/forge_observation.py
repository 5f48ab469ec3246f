"""Hostile: a sign error that forges its observations by patching the grader's probe."""

import sys

import torch


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        x_prev, x = x0, f(a)(x0)
        while distance(x, x_prev) > tol:
            x_prev, x = x, f(a)(x)
    return x.detach().requires_grad_()  # no gradient path at all


for module in list(sys.modules.values()):
    observe = getattr(module, "observe", None)
    if callable(observe) and hasattr(module, "observe_map"):
        original = observe

        def forged(wire, candidate, _original=original):
            observation = _original(wire, candidate)
            observation["graph_nodes"] = 1  # claim a small implicit graph
            return observation

        module.observe = forged
