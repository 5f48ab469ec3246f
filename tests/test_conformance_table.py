"""The conformance pipeline (examples/peers/table.py) on our own ``implicit``: the same
adapter, worker, JSON and table as for the peer libraries, on a few frozen cases."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peers_table", ROOT / "examples/peers/table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_implicit_through_the_conformance_pipeline(tmp_path: Path) -> None:
    table = _table()
    doc = tmp_path / "conformance.md"
    # circle cases: regular ones, one near and one exactly at a vertical tangent
    selection = ["-k", "test_frozen_case and circle-x and not 1.7"]
    readme = tmp_path / "README.md"  # never the project's own
    readme.write_text(f"before\n{table.START}\nold\n{table.END}\nafter\n", encoding="utf-8")
    table.main(
        [
            *("--only", "implicit_root", "--out", str(tmp_path), "--doc", str(doc)),
            *("--readme", str(readme), "--", *selection),
        ]
    )
    summary = readme.read_text(encoding="utf-8")
    assert "| [implicit root_find](examples/peers/implicit_root.py) | pass |" in summary
    assert summary.startswith("before\n")
    assert summary.endswith("after\n")
    assert "\nold\n" not in summary
    data = json.loads((tmp_path / "implicit_root.json").read_text())
    assert data["target"] == "implicit_root.py"
    assert data["assignment"] == "implicit"
    assert data["load_error"] is None
    assert (tmp_path / "implicit_root.html").is_file()
    props = data["properties"]
    for name in ("root", "dy_dx_true", "degenerate_behaviour"):
        assert props[name]["pass"] >= 1, name
    for name, entry in props.items():  # everything it claims, it passes
        assert entry["fail"] == entry["error"] == 0, (name, entry)
        assert set(entry) >= {"pass", "fail", "error", "degenerate", "not_claimed", "diagnosis"}
    text = doc.read_text()
    assert "| [implicit root_find](implicit_root.py) | " in text
    assert "**fail**" not in text.split("## Fixed points")[0]


def test_table_cells_and_missing_libraries() -> None:
    table = _table()
    entry = {"pass": 3, "fail": 1, "error": 0, "degenerate": 2, "not_claimed": False}
    assert table.cell(entry) == "**fail** 1/6"
    assert table.cell({**entry, "fail": 0}) == "pass 3/5"
    assert table.cell({**entry, "not_claimed": True}) == "not claimed"
    text = table.table([("nolib", "torchdeq_ift.py", None)])
    assert "| nolib | not installed" in text
    assert not table.installed("no_such_library_xyz")
