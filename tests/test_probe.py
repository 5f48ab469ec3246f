"""probe.observe: what it records, and that a candidate cannot fool or crash it."""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from properties import candidates, probe

WRONG = Path(__file__).parent / "wrong"
CIRCLE = {"kind": "curve", "F": "x**2 + y**2 - 1", "x": 0.5, "y0": 0.8, "dtype": "float64"}
SQRT_MAP = {
    "kind": "map",
    "f": ["0.5*(x[0] + a[0]/x[0])", "0.3*x[0] - 0.2*x[1] + a[1]"],
    "a": [2.0, 0.5],
    "x0": [1.0, 0.0],
    "tol": 1e-11,
    "dtype": "float64",
    "scalar": False,
    "weights": [1.3, -0.7],
}


def _json_roundtrip(obs: dict) -> dict:
    return json.loads(json.dumps(obs, allow_nan=False))


def test_probe_imports_only_torch_and_the_standard_library() -> None:
    tree = ast.parse((Path(probe.__file__)).read_text())
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert modules - {"torch", "__future__"} <= set(sys.stdlib_module_names)


def test_observe_curve_records_value_gradients_and_hygiene() -> None:
    obs = _json_roundtrip(probe.observe(dict(CIRCLE, weight=1.7), candidates.reference_solve))
    assert obs["y"] == pytest.approx(math.sqrt(3) / 2, abs=1e-14)
    assert obs["dy_dx"] == pytest.approx(-1 / math.sqrt(3), rel=1e-12)
    assert obs["weighted_grad"] == pytest.approx(1.7 * obs["dy_dx"], rel=1e-12)
    assert obs["d2y_dx2"] == pytest.approx(-1.5396007178390020, rel=1e-10)
    assert obs["y0_grad"] == 0.0
    assert obs["mutated"] == []
    assert obs["gradcheck"]["passed"] is True
    assert obs["float32"]["y_dtype"] == "float32"
    assert obs["batch"]["shape"] == [3]
    assert obs["batch"]["grad"][0] == pytest.approx(obs["dy_dx"], rel=1e-12)


def test_observe_records_a_raising_candidate_without_raising() -> None:
    def solve(F, x, y0):
        raise ValueError("no root here " * 100)

    obs = probe.observe(CIRCLE, solve)
    assert obs["call_error"]["type"] == "ValueError"
    assert len(obs["call_error"]["message"]) <= probe.MESSAGE_LIMIT + 4
    assert "y" not in obs


def test_observe_rejects_a_non_tensor_result() -> None:
    obs = probe.observe(CIRCLE, lambda F, x, y0: 0.866)
    assert obs["call_error"]["type"] == "TypeError"


def test_observe_detects_mutated_inputs_and_records_warnings() -> None:
    def solve(F, x, y0):
        import warnings

        warnings.warn("careful", UserWarning, stacklevel=1)
        y0.add_(0.01)  # mutates the caller's tensor
        return candidates.reference_solve(F, x, y0)

    obs = probe.observe(CIRCLE, solve)
    assert obs["mutated"] == ["y0"]
    assert obs["warnings"][0]["message"] == "careful"


def test_gradcheck_cannot_be_monkeypatched_away(monkeypatch: pytest.MonkeyPatch) -> None:
    sign_error = candidates.load_target(WRONG / "sign_error.py").solve
    monkeypatch.setattr(torch.autograd, "gradcheck", lambda *a, **k: True)
    obs = probe.observe(CIRCLE, sign_error)
    assert obs["gradcheck"]["passed"] is False
    assert obs["gradcheck"]["fd_dy_dx"] == pytest.approx(-1 / math.sqrt(3), rel=1e-6)


def test_observe_map_records_jacobian_graph_and_backward_points() -> None:
    obs = _json_roundtrip(probe.observe(SQRT_MAP, candidates.reference_fixed_point))
    assert obs["x"][0] == pytest.approx(math.sqrt(2), abs=1e-10)
    assert len(obs["jacobian"]) == 2
    assert len(obs["jacobian"][0]) == 2
    v = SQRT_MAP["weights"]
    vjp = [sum(v[i] * obs["jacobian"][i][c] for i in range(2)) for c in range(2)]
    assert obs["vjp"] == pytest.approx(vjp, rel=1e-10)
    assert obs["graph_nodes"] == obs["graph_loose"]["nodes"]
    assert obs["backward_max_distance"] == 0.0
    assert obs["x0_grad"] == [0.0, 0.0]


def test_observe_map_sees_an_unrolled_graph_grow() -> None:
    unrolled = candidates.load_target(WRONG / "unrolled.py").fixed_point
    obs = probe.observe(SQRT_MAP, unrolled)
    assert obs["graph_nodes"] > obs["graph_loose"]["nodes"]
    assert obs["forward_f_calls"] > obs["graph_loose"]["f_calls"]


def test_observe_map_records_where_backward_evaluates_f() -> None:
    at_x0 = candidates.load_target(WRONG / "jacobian_at_x0.py").fixed_point
    obs = probe.observe(SQRT_MAP, at_x0)
    x0, x = SQRT_MAP["x0"], obs["x"]
    assert obs["backward_f_calls"] >= 1
    assert obs["backward_max_distance"] == pytest.approx(math.dist(x0, x), rel=1e-9)


def test_probe_parts_import_only_torch_and_the_standard_library() -> None:
    for name, allowed in (("probe_values.py", {"torch"}), ("probe_wire.py", set())):
        tree = ast.parse((Path(probe.__file__).with_name(name)).read_text())
        modules = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        assert modules - allowed - {"__future__"} <= set(sys.stdlib_module_names), name


def test_observations_hold_only_the_keys_of_the_wire_schema() -> None:
    from properties import probe_wire

    for wire, candidate in (
        (CIRCLE, candidates.reference_solve),
        (SQRT_MAP, candidates.reference_fixed_point),
        (CIRCLE, lambda F, x, y0: 0.866),
    ):
        obs = probe.observe(wire, candidate)
        assert set(obs) <= probe_wire.observation_keys(wire["kind"])
        assert set(wire) <= set(probe_wire.REQUEST[wire["kind"]])
