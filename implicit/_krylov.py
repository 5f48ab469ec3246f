"""Matrix-free solves ``A z = b`` for a batch of independent problems.

``A`` is given only by its action ``matvec(v)`` (a vector-Jacobian or
Jacobian-vector product), block diagonal over the batch: problem ``b`` of
``matvec(v)`` depends on problem ``b`` of ``v`` only.  Every inner product and
norm is taken per problem, so each problem has its own Krylov space, its own
stopping and its own diagnostics, while one ``matvec`` serves the whole batch.

Shapes: ``b`` is ``batch_shape + event_shape`` (``m = prod(event_shape)``
unknowns per problem); internally ``(B, m)``.  Every per-problem number
(``converged``, ``residual``, ``sigma_min``) is ``batch_shape``.

Invariant (scale-free): a problem stops when ``|b - A z| <= rtol * |b|``; the
solves are homogeneous, so ``solve(c b) = c solve(b)`` up to rounding for any
``c > 0``.  Nothing here raises on a bad problem: the caller reads the result.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

Matvec = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class KrylovResult:
    """A Krylov solve's result and diagnostics, per problem (``batch_shape``).

    Attributes:
        z: the solution, the shape of ``b``.
        converged: ``|b - A z| <= rtol |b|`` (the true residual, recomputed).
        residual: ``|b - A z| / |b|`` (0 where ``b = 0``).
        sigma_min: an upper bound on the smallest singular value of ``A``: that
            of the Arnoldi matrix ``H`` (``A V_k = V_{k+1} H``, so
            ``min |A V y| / |y|`` over the Krylov space), the least over restarts;
            inf where no step was taken (GMRES only; CG gives inf).
        matvecs: products with ``A`` taken (a Python int, the whole batch).

    A problem that is not converged either hit ``max_matvec`` or stalled: a whole
    restart cycle shrank its residual by less than 1% (GMRES only).
    """

    z: torch.Tensor
    converged: torch.Tensor
    residual: torch.Tensor
    sigma_min: torch.Tensor
    matvecs: int


def _flat(b: torch.Tensor, event_ndim: int) -> tuple[torch.Size, int, int]:
    batch_shape = b.shape[: b.dim() - event_ndim]
    B = math.prod(batch_shape)
    return batch_shape, B, (b.numel() // B) if B else 0


def gmres(
    matvec: Matvec,
    b: torch.Tensor,
    event_ndim: int,
    rtol: float,
    restart: int = 20,
    max_matvec: int = 400,
) -> KrylovResult:
    """Restarted GMRES with classical Gram-Schmidt, twice (CGS2), per problem.

    Args:
        matvec: ``v -> A v`` on tensors of ``b``'s shape, block diagonal.
        b: the right-hand side, ``batch_shape + event_shape``.
        event_ndim: trailing dimensions of one problem.
        rtol: the relative tolerance on each problem's residual.
        restart: Arnoldi steps per cycle (memory: ``restart + 1`` vectors of
            ``b``'s size).
        max_matvec: the cap on products with ``A`` (over all cycles).

    Returns:
        A ``KrylovResult``.
    """
    batch_shape, B, m = _flat(b, event_ndim)
    shape = b.shape
    bf = b.reshape(B, m)

    def A(v: torch.Tensor) -> torch.Tensor:
        return matvec(v.reshape(shape)).reshape(B, m)

    b_norm = torch.linalg.vector_norm(bf, dim=-1)
    target = rtol * b_norm
    z = torch.zeros_like(bf)
    r, beta = bf, b_norm
    sigma = torch.full_like(b_norm, math.inf)
    k = max(1, min(restart, m))
    matvecs = 0
    tiny = torch.finfo(b.dtype).tiny
    stalled = torch.zeros_like(b_norm, dtype=torch.bool)
    while matvecs < max_matvec:
        active = (beta > target) & ~stalled
        if B == 0 or not bool(active.any()):
            break
        beta_start = beta
        V = torch.empty(B, k + 1, m, dtype=b.dtype, device=b.device)  # written before read
        V[:, 0] = r / beta.clamp(min=tiny)[:, None]
        H = torch.zeros(B, k + 1, k, dtype=b.dtype, device=b.device)
        R = torch.zeros(B, k, k, dtype=b.dtype, device=b.device)
        cs = torch.zeros(B, k, dtype=b.dtype, device=b.device)
        sn = torch.zeros_like(cs)
        g = torch.zeros(B, k + 1, dtype=b.dtype, device=b.device)
        g[:, 0] = beta
        steps = torch.zeros(B, dtype=torch.long, device=b.device)  # each problem's own
        j = 0
        for j in range(k):
            w = A(V[:, j])
            matvecs += 1
            basis = V[:, : j + 1]  # (B, j+1, m)
            h = torch.bmm(basis, w[:, :, None])[..., 0]
            w = w - torch.bmm(h[:, None, :], basis)[:, 0]
            h2 = torch.bmm(basis, w[:, :, None])[..., 0]
            w = w - torch.bmm(h2[:, None, :], basis)[:, 0]
            h = h + h2
            h_next = torch.linalg.vector_norm(w, dim=-1)
            V[:, j + 1] = w / h_next.clamp(min=tiny)[:, None]
            H[:, : j + 1, j], H[:, j + 1, j] = h, h_next
            # Givens rotations: R is the triangular factor of H, g the rotated beta e1.
            col = h.clone()
            for i in range(j):
                top = cs[:, i] * col[:, i] + sn[:, i] * col[:, i + 1]
                col[:, i + 1] = -sn[:, i] * col[:, i] + cs[:, i] * col[:, i + 1]
                col[:, i] = top
            rho = torch.hypot(col[:, j], h_next)
            safe = rho > tiny
            cs[:, j] = torch.where(safe, col[:, j] / rho.clamp(min=tiny), 1.0)
            sn[:, j] = torch.where(safe, h_next / rho.clamp(min=tiny), 0.0)
            col[:, j] = rho
            R[:, : j + 1, j] = col
            g[:, j + 1] = -sn[:, j] * g[:, j]
            g[:, j] = cs[:, j] * g[:, j]
            steps += active.long()
            active = active & (g[:, j + 1].abs() > target)
            if not bool(active.any()) or matvecs >= max_matvec:
                break
        n = j + 1
        # A problem that stopped early has zero columns after its last step: a unit
        # diagonal there (with g = 0 beyond it) leaves its solution unchanged.
        idle = torch.arange(n, device=b.device)[None, :] >= steps[:, None]
        Rn = R[:, :n, :n] + torch.diag_embed(idle.to(b.dtype))
        gn = torch.where(idle, 0.0, g[:, :n])
        y = torch.linalg.solve_triangular(Rn, gn[:, :, None], upper=True)
        z = z + torch.bmm(y.mT, V[:, :n])[:, 0]
        for s in steps.unique().tolist():
            if s:
                pick = steps == s
                est = torch.linalg.svdvals(H[pick, : s + 1, :s])[..., -1]
                sigma[pick] = torch.minimum(sigma[pick], est)
        r = bf - A(z)
        matvecs += 1
        beta = torch.linalg.vector_norm(r, dim=-1)
        # A whole cycle that does not shrink the residual by 1% will not converge
        # (a singular A with b outside its range): that problem stops here.
        stalled = stalled | ((beta > target) & ~(beta < 0.99 * beta_start))
    residual = torch.where(b_norm > 0, beta / b_norm.clamp(min=tiny), 0.0)
    converged = (beta <= target) & torch.isfinite(beta)
    return KrylovResult(
        z.reshape(shape),
        converged.reshape(batch_shape),
        residual.reshape(batch_shape),
        sigma.reshape(batch_shape),
        matvecs,
    )


def cg(
    matvec: Matvec, b: torch.Tensor, event_ndim: int, rtol: float, max_matvec: int = 400
) -> KrylovResult:
    """Conjugate gradients, per problem, for a symmetric positive definite ``A``
    (e.g. ``I - f_x`` of a gradient step ``f(x) = x - eta grad E(x)`` on a convex
    ``E``).  Memory: four vectors of ``b``'s size.  ``sigma_min`` is inf (CG has
    no Arnoldi matrix); a breakdown (``p^T A p <= 0``) stops that problem."""
    batch_shape, B, m = _flat(b, event_ndim)
    shape = b.shape
    bf = b.reshape(B, m)
    b_norm = torch.linalg.vector_norm(bf, dim=-1)
    target = rtol * b_norm
    z = torch.zeros_like(bf)
    r = bf.clone()
    p = r.clone()
    rr = (r * r).sum(-1)
    active = rr.sqrt() > target
    matvecs = 0
    while matvecs < max_matvec and bool(active.any()):
        Ap = matvec(p.reshape(shape)).reshape(B, m)
        matvecs += 1
        pAp = (p * Ap).sum(-1)
        active = active & (pAp > 0)
        alpha = torch.where(active, rr / torch.where(active, pAp, 1.0), 0.0)
        z = z + alpha[:, None] * p
        r = r - alpha[:, None] * Ap
        rr_new = (r * r).sum(-1)
        beta = torch.where(active, rr_new / torch.where(rr > 0, rr, 1.0), 0.0)
        p = r + beta[:, None] * p
        rr = torch.where(active, rr_new, rr)
        active = active & (rr.sqrt() > target)
    beta_ = torch.linalg.vector_norm(bf - matvec(z.reshape(shape)).reshape(B, m), dim=-1)
    tiny = torch.finfo(b.dtype).tiny
    residual = torch.where(b_norm > 0, beta_ / b_norm.clamp(min=tiny), 0.0)
    converged = (beta_ <= target) & torch.isfinite(beta_)
    return KrylovResult(
        z.reshape(shape),
        converged.reshape(batch_shape),
        residual.reshape(batch_shape),
        torch.full_like(residual, math.inf).reshape(batch_shape),
        matvecs + 1,
    )
