"""Confirms by hand: which libraries give a closure parameter its gradient.

The map f(a)(x) = x/2 + a + theta (theta = 0, requiring grad, reaching f only
through a closure, as a layer's weights do) has x* = 2 (a + theta), so
dx*/dtheta = 2.  Each library is called the way its adapter in examples/peers/
calls it; "None" means autograd found no path to theta: the gradient is
silently dropped.  Run with the peers installed (tox -e conformance's env).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import torch

warnings.simplefilter("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
dt = torch.float64


def distance(x, x_prev):
    return torch.linalg.norm(x - x_prev)


for name in (
    "implicit_fixed_point",
    "torchopt_fixed_point",
    "torchdeq_default",
    "torchdeq_ift",
    "autograd_fixed_point",
):
    try:
        adapter = importlib.import_module(name)
    except ImportError as exc:
        print(f"{name:24s} not installed ({exc})")
        continue
    theta = torch.zeros((), dtype=dt, requires_grad=True)
    a = torch.tensor([0.5], dtype=dt, requires_grad=True)
    try:
        x = adapter.fixed_point(
            lambda a_: lambda x: x / 2 + a_ + theta, a, torch.zeros(1, dtype=dt), distance, 1e-12
        )
        (g,) = (
            torch.autograd.grad(x.sum(), theta, allow_unused=True) if x.requires_grad else (None,)
        )
        print(
            f"{name:24s} x* = {x.detach().tolist()}  dx*/dtheta = {None if g is None else g.item()}  (true 2)"
        )
    except Exception as exc:  # noqa: BLE001 - a refusal is an answer too
        print(f"{name:24s} raised {type(exc).__name__}: {str(exc)[:100]}")
