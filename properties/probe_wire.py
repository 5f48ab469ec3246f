"""The probe's request and response (the "wire"): the one definition both sides read.

STANDARD LIBRARY ONLY: ``probe.py`` loads this file by path beside itself (a
grading worker cannot import the ``properties`` package), while
``properties.wire`` (which builds the request from a case) and
``properties.checks`` (which reads the response) import it as
``properties.probe_wire``.

Request (a JSON-able dict, ``REQUEST[kind]``): ``kind`` is "curve" or "map";
the rest says what to call the candidate on.  Response (the observation,
``observation_keys(kind)``): plain numbers only, finite floats as floats,
non-finite ones as the strings "nan", "inf", "-inf", a value not produced as
``None``; a stage that raised records ``{"type", "message"}`` under
``error_key(stage)``, and after a ``call_error`` nothing else is recorded.
"""

from __future__ import annotations

#: ``torch.autograd.gradcheck``'s options in float64; a curve request's
#: ``gradcheck_eps`` replaces ``eps``.
GRADCHECK_OPTIONS = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3}
#: A map's graph is sized at the case's ``tol`` and at this many times it (looser).
LOOSE_TOL_FACTOR = 1e4
#: ``tol`` of the float64 gradcheck run of a map case (an accurate forward
#: keeps finite differences meaningful).
GRADCHECK_MAP_TOL = 1e-12
#: Upstream weights of the loss-scale stage: ``grad(w L) / w`` must not depend on ``w``.
LOSS_SCALES = (1e-8, 1e-4, 1.0, 1e4, 1e8)
#: Seconds a conformance or hazard stage may take before it is stopped.
DEADLINE = 10.0
#: Stages a request may list under ``skip``.
OPTIONAL_STAGES = ("batch", "gradcheck", "float32")

#: What a request holds, by kind: key -> meaning.
REQUEST: dict[str, dict[str, str]] = {
    "curve": {
        "kind": '"curve"',
        "F": "torch-evaluable source of F(x, y) over x, y and torch",
        "x": "the point (float)",
        "y0": "the start (float)",
        "dtype": '"float64" or "float32"',
        "weight": "the upstream gradient of the weighted backward",
        "skip": "optional stages not to run (OPTIONAL_STAGES)",
        "gradcheck_eps": "gradcheck's step (default GRADCHECK_OPTIONS['eps'])",
        "batch_x": "the batch's points (default: x and two close neighbours)",
        "batch_y0": "the batch's starts (default: y0 for each point)",
    },
    "map": {
        "kind": '"map"',
        "f": "one torch-evaluable source per component of f(a)(x), over a, x and torch",
        "a": "parameter values (floats)",
        "x0": "the start (floats)",
        "tol": "the stopping tolerance handed to fixed_point",
        "dtype": '"float64" or "float32"',
        "scalar": "true: 0-d tensors (m == k == 1)",
        "weights": "the upstream gradient v of the weighted vjp (m floats)",
        "skip": "optional stages not to run (OPTIONAL_STAGES)",
    },
    "vector": {
        "kind": '"vector"',
        "F": "one torch-evaluable source per component of F(x, y), over x[k], y[i] and torch",
        "x": "the point (n floats)",
        "y0": "the start (m floats)",
        "weights": "w of the second-order stage (m floats)",
        "dtype": '"float64"',
    },
}

#: Request keys of the conformance stages (either kind): ``probe_conformance``.
CONFORMANCE_REQUEST: dict[str, str] = {
    "conformance": "true: also run the conformance stages (result under 'conformance')",
    "claims": "the capabilities the target declares (properties.capabilities)",
    "scales": "the loss-scale weights (default LOSS_SCALES)",
    "deadline": "seconds per conformance stage (default DEADLINE)",
    "hazard": "true (maps): only the call and one backward, under the deadline",
}

#: What ``observation["conformance"]`` holds, by kind: key -> meaning.
CONFORMANCE: dict[str, dict[str, str]] = {
    "curve": {
        "claims": "the request's claims",
        "loss_scale": "{scales, grads}: the backward's dy/dx times each weight",
        "forward_ad": "dy/dx as the tangent of forward_ad (x's tangent 1)",
        "func_jvp": "dy/dx as torch.func.jvp's tangent",
        "func_grad": "torch.func.grad of y",
        "func_vjp": "{weight, grad}: torch.func.vjp's pullback of the weight",
        "singles": "{x, y, grad}: one call and one backward per batch point",
        "func_jacrev": "torch.func.jacrev of the batch (n x n)",
        "func_vmap": "{y, grad}: torch.func.vmap of the call and of its grad",
        "closure_gradient": "{graph, grad, phi, weight}: F + theta + phi * y, theta and phi "
        "= 0 the parameters of a module reaching F through a closure; grad: w dy/dtheta, "
        "phi: w dy/dphi (None: autograd found no path)",
        "warnings": "up to 10 {stage, category, message}",
    },
    "map": {
        "claims": "the request's claims",
        "tangent": "the direction t of the forward-mode stages (k floats)",
        "loss_scale": "{scales, vjps}: (s v)^T dx/da for each weight s",
        "forward_ad": "dx/da t as forward_ad's tangent",
        "func_jvp": "dx/da t as torch.func.jvp's tangent",
        "d2x_da2": "d2(v^T x*)/da2 by double backward (k x k)",
        "func_grad": "torch.func.grad of v^T x*",
        "func_vjp": "torch.func.vjp's pullback of v",
        "func_jacrev": "torch.func.jacrev: dx/da (m x k)",
        "closure_gradient": "{graph, grad, phi}: f(a)(x) + theta + phi * x, theta and phi "
        "= 0 the parameters of a module reaching f through a closure; grad: v^T dx*/dtheta, "
        "phi: v^T dx*/dphi (m floats; None: autograd found no path)",
        "warnings": "up to 10 {stage, category, message}",
    },
}
#: The conformance stages of each kind (their errors: ``error_key(stage)``).
CONFORMANCE_STAGES: dict[str, tuple[str, ...]] = {
    "curve": ("loss_scale", "forward_ad", "func_jvp", "func_grad", "func_vjp")
    + ("func_jacrev", "func_vmap", "closure_gradient"),
    "map": ("loss_scale", "forward_ad", "func_jvp", "d2x_da2", "func_grad", "func_vjp")
    + ("func_jacrev", "closure_gradient"),
}
#: A hazard observation (``"hazard": true``): key -> meaning.
HAZARD = {
    "kind": '"map"',
    "hazard": "true",
    "deadline": "the deadline of each stage (seconds)",
    "x": "the returned point (m floats)",
    "vjp": "1^T dx/da by backward, when x was finite",
    "warnings": "up to 10 {stage, category, message}",
    "call_error": "{type, message}; type TimeoutError when the deadline stopped it",
    "vjp_error": "the same for the backward",
}

#: The guarded stages of each kind, in the order they run.
STAGES: dict[str, tuple[str, ...]] = {
    "curve": (
        "call",
        "weighted_grad",
        "dy_dx",
        "d2y_dx2",
        "y0_grad",
        "batch",
        "gradcheck",
        "float32",
    ),
    "map": ("call", "vjp", "jacobian", "x0_grad", "graph", "gradcheck"),
    "vector": ("vector_call", "vector_jacobian", "vector_d2y"),
}

_BOTH = {
    "kind": "the request's kind",
    "dtype": "the dtype the candidate was called in",
    "warnings": "up to 10 {stage, category, message}",
    "time": "seconds of the plain call",
    "backward_time": "seconds of the (weighted) backward",
    "mutated": "names of the inputs the call modified in place",
    "residual": "|F(x, y)| (curves) or |f(a)(x) - x| (maps) in float64",
    "gradcheck": "{options, passed, error?}, plus fd_dy_dx (curves) or tol (maps)",
    "conformance": "what the conformance stages recorded (CONFORMANCE[kind]), when asked",
    "no_graph": "the stages whose output carried no autograd graph to the input (autograd's "
    "None gradient, recorded as zeros)",
}

#: What an observation holds, by kind: key -> meaning (and ``error_key`` of a stage).
OBSERVATION: dict[str, dict[str, str]] = {
    "curve": {
        **_BOTH,
        "x": "the point",
        "y0": "the start",
        "weight": "the request's weight",
        "y": "the returned root",
        "y_shape": "its shape",
        "y_dtype": "its dtype",
        "requires_grad": "whether y requires grad",
        "weighted_grad": "weight * dy/dx by backward",
        "dy_dx": "dy/dx by backward",
        "d2y_dx2": "d2y/dx2 by double backward (create_graph=True)",
        "y0_grad": "the gradient w.r.t. the start y0",
        "batch": "{x, y0, weights, shape, y, residual, grad, single_y, single_grad, "
        "single_residual}",
        "float32": "{y, y_dtype, dy_dx} of a float32 call",
    },
    "map": {
        **_BOTH,
        "m": "components of x",
        "k": "components of a",
        "scalar": "the request's scalar",
        "tol": "the request's tol",
        "weights": "the upstream gradient v",
        "x": "the returned fixed point (m floats)",
        "x_shape": "its shape",
        "x_dtype": "its dtype",
        "requires_grad": "whether x requires grad",
        "forward_f_calls": "evaluations of f during the call",
        "graph_nodes": "autograd graph nodes behind x at tol",
        "graph_loose": "{tol, nodes, f_calls} at tol * LOOSE_TOL_FACTOR",
        "vjp": "v^T dx/da by backward",
        "backward_f_calls": "evaluations of f during that backward",
        "backward_max_distance": "farthest point f saw during backward from x",
        "backward_distances": "the distance from x of each point f saw during backward "
        "(the first 32)",
        "jacobian": "dx/da by m backwards (m rows of k)",
        "x0_grad": "the gradient w.r.t. the start x0",
    },
    "vector": {
        "kind": '"vector"',
        "claims": "the request's claims",
        "dtype": "the dtype the candidate was called in",
        "m": "unknowns",
        "n": "components of x",
        "y": "the returned root (m floats)",
        "y_shape": "its shape",
        "residual": "max |F(x, y)| in float64",
        "vector_jacobian": "dy/dx by m vjps (m rows of n)",
        "vector_d2y": "d2(w^T y)/dx2 by double backward (n rows of n)",
        "vector_d2y_graph": "whether grad(w^T y, x) had a graph (false: zeros recorded)",
        "warnings": "up to 10 {stage, category, message}",
    },
}


def error_key(stage: str) -> str:
    """Where a stage that raised records ``{"type", "message"}``: ``<stage>_error``."""
    return f"{stage}_error"


def observation_keys(kind: str) -> frozenset[str]:
    """Every key an observation of ``kind`` ("curve", "map" or "vector") may hold (for
    maps, those of a hazard observation too)."""
    keys = frozenset(OBSERVATION[kind]) | {error_key(stage) for stage in STAGES[kind]}
    return keys | frozenset(HAZARD) if kind == "map" else keys


def batch_points(x: float) -> list[float]:
    """Default batch when the request carries none: ``x`` and two close neighbours."""
    h = 1e-3 * (1.0 + abs(x))
    return [x, x + h, x - h]
