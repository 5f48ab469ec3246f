"""theseus-ai: the root of ``F(x, ·)`` as a least-squares problem, implicit backward.

``y`` is an ``th.Vector`` optimised by Gauss-Newton to minimise ``F(x, y)**2``
(an ``AutoDiffCostFunction`` with ``x`` as auxiliary variable) inside a
``TheseusLayer``; ``backward_mode="implicit"`` differentiates the optimum by the
implicit function theorem.  The library is imported when the file loads, with
its import-time warnings silenced (no CHOLMOD here: dense solvers only), so they
are not taken for the call's own warnings.
"""

from __future__ import annotations

import warnings

import torch

REQUIRES = "theseus"

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import theseus as th
    except ImportError:  # the table skips this adapter; a call says why
        th = None

MAX_ITER = 50


def implicit(F, x, y0):
    """``y`` with ``F(x, y) = 0`` near ``y0``, by theseus (Gauss-Newton, implicit backward)."""
    if th is None:
        raise ImportError("theseus_root.py needs theseus-ai: pip install theseus-ai")
    shape = y0.shape
    xs = x.reshape(-1, 1)
    ys = y0.detach().reshape(-1, 1).expand(xs.shape[0], 1).clone()
    y_var = th.Vector(tensor=ys, name="y")
    x_var = th.Variable(xs, name="x")

    def residual(optim_vars, aux_vars):
        return F(aux_vars[0].tensor, optim_vars[0].tensor)

    cost = th.AutoDiffCostFunction(
        [y_var],
        residual,
        1,
        aux_vars=[x_var],
        cost_weight=th.ScaleCostWeight(torch.ones((), dtype=xs.dtype)),
    )
    objective = th.Objective(dtype=xs.dtype)
    objective.add(cost)
    layer = th.TheseusLayer(th.GaussNewton(objective, max_iterations=MAX_ITER))
    solution, _ = layer.forward({"x": xs, "y": ys}, optimizer_kwargs={"backward_mode": "implicit"})
    return solution["y"].reshape(shape)
