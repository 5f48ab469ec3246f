"""Confirms by hand: torchdeq on f(a)(x) = (x1/10, 0), a map that ignores a.

x* = (0, 0) and dx/da = 0.  The harness's smallest failing case: backward
raises "element 0 of tensors does not require grad".  Here we ask torchdeq
directly whether its output carries a graph to a.
"""

from __future__ import annotations

import torch
from torchdeq import get_deq

dt = torch.float64
for options in [{}, {"ift": True}]:
    a = torch.zeros(1, dtype=dt, requires_grad=True)

    def f(z, a=a):
        return torch.stack([z[1] / 10, torch.zeros((), dtype=dt)]) + 0 * a.sum()

    def f_no_a(z):
        return torch.stack([z[1] / 10, torch.zeros((), dtype=dt)])

    for name, func in [("uses a (0*a)", f), ("ignores a", f_no_a)]:
        states, _ = get_deq(**options)(func, torch.zeros(2, dtype=dt), solver_kwargs={"f_tol": 1e-10})
        x = states[-1]
        print(options, name, "x* =", x.tolist(), "requires_grad:", x.requires_grad, "(true dx/da = [0, 0])")
