"""Confirms by hand the torchdeq rows of docs/conformance.md, on the library itself.

1. The forward stops early: on f(a)(x) = x - 3/7 (x**2 + a**2 - 1) (x* = 1 at a = 0,
   rate rho = 1/7) with f_tol = 2.3e-11, x comes back about 1 + 1.6e-5 (its
   default iteration cap / stopping test, not the tolerance it was handed).
2. The default backward is one step (a "phantom" gradient): dx/da is f_a alone,
   here on f(a)(x) = x/2 + a (true dx/da = 2, f_a = 1).
3. ift=True: the backward solves the adjoint with an absolute tolerance, so
   grad(s L) / s changes with the loss scale s.
4. A double fixed point (f(a)(x) = x - x**2 + a at a = 0, I - f_x singular):
   a finite x and gradient, with no error or warning.
5. ift=True, closure parameter: theta captured by f (f = x - 5/6 (x**2 + a**2) +
   135/128 + theta, x* = 9/8, f_x = -7/8) gets dx/dtheta = 0.5305 against the true
   1 / (1 - f_x) = 0.5333: the same inexact adjoint as 2., made visible by a rate
   near 1 in size.
"""

from __future__ import annotations

import warnings

import torch
from torchdeq import get_deq

dt = torch.float64
warnings.simplefilter("error")  # 4.: any warning would surface here


def solve(options, f, a, x0, tol):
    states, _ = get_deq(**options)(lambda z: f(a)(z), x0, solver_kwargs={"f_tol": tol})
    return states[-1]


a = torch.zeros(1, dtype=dt, requires_grad=True)
x = solve({}, lambda a_: lambda x: x - 3 / 7 * (x**2 + a_**2 - 1), a, torch.full((1,), 1.045, dtype=dt), 2.3e-11)
print("1. x =", x.item(), "(x* = 1; error", abs(x.item() - 1), ")")

for options in ({}, {"ift": True}):
    a = torch.tensor([0.5], dtype=dt, requires_grad=True)
    x = solve(options, lambda a_: lambda x: x / 2 + a_, a, torch.zeros(1, dtype=dt), 1e-12)
    (g,) = torch.autograd.grad(x.sum(), a)
    print(f"2. {options or 'defaults'}: dx/da = {g.item():.6f} (true 2, f_a alone 1)")

a0 = torch.tensor([0.3], dtype=dt)
for s in (1.0, 1e-8, 1e8):
    a = a0.clone().requires_grad_()
    f = lambda a_: lambda x: 0.9 * torch.tanh(x) + a_  # noqa: E731 - rho near 0.9: a long adjoint
    x = solve({"ift": True}, f, a, torch.zeros(1, dtype=dt), 1e-10)
    (g,) = torch.autograd.grad((s * x).sum(), a)
    print(f"3. ift=True, s = {s:g}: grad(s L) / s = {g.item() / s:.10f}")

a = torch.zeros(1, dtype=dt, requires_grad=True)
try:
    x = solve({}, lambda a_: lambda x: x - x**2 + a_, a, torch.full((1,), 0.0625, dtype=dt), 1e-10)
    (g,) = torch.autograd.grad(x.sum(), a)
    print(f"4. double fixed point: x = {x.item():.6f}, dx/da = {g.item():.4f}, no warning (true: x* = 0, dx/da infinite)")
except Exception as exc:  # noqa: BLE001
    print("4. raised or warned:", type(exc).__name__, exc)

theta = torch.zeros((), dtype=dt, requires_grad=True)
a = torch.zeros(1, dtype=dt)
f = lambda a_: lambda x: x - 5 / 6 * (x**2 + a_**2) + 135 / 128 + theta  # noqa: E731
x = solve({"ift": True}, f, a, torch.full((1,), 1.0, dtype=dt), 1e-10)
(g,) = torch.autograd.grad(x.sum(), theta)
x_star = x.item()
print(f"5. ift=True: dx/dtheta = {g.item():.6f}, true 1 / (1 - f_x) = {1 / (5 / 3 * x_star):.6f} at x = {x_star:.6f}")
