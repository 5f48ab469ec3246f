"""Behaviour guard for refactors: the frozen sets and the example grading, byte for byte.

Usage::

    python tools/identical.py save  DIR   # record the fingerprints of this tree in DIR
    python tools/identical.py check DIR   # compare this tree with DIR; exit 1 on a difference

What is fingerprinted:

- ``properties/data/*.json`` regenerated from the seed (``python -m
  properties.frozen --regenerate``, into a copy: the stored files are left alone),
  byte for byte, and the stored files themselves;
- ``python -m reports.grade`` on the bundled ``examples/submissions`` (default
  rubric and exploration): ``gradebook.csv`` and every ``results.json``.

A pure move of code must leave every fingerprint unchanged.  A change that is
meant to change grading (a new check, a new tolerance) changes them on purpose:
save a new baseline after it and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(work: Path) -> dict[str, str]:
    """Name -> sha256 of every guarded output, computed in the scratch folder ``work``."""
    out: dict[str, str] = {}
    for stored in sorted((ROOT / "properties" / "data").glob("*.json")):
        out[f"stored/{stored.name}"] = _digest(stored)
    # Regenerate in a copy of the tree so the stored sets stay as they are.
    copy = work / "tree"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".git", ".tox", ".venv", "out", "__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "properties.frozen", "--regenerate"], cwd=copy, check=True,
        capture_output=True,
    )
    for regenerated in sorted((copy / "properties" / "data").glob("*.json")):
        out[f"regenerated/{regenerated.name}"] = _digest(regenerated)
    grade = work / "grade"
    subprocess.run(
        [sys.executable, "-m", "reports.grade", "--out", str(grade)], cwd=ROOT, check=True,
        capture_output=True,
    )
    out["grade/gradebook.csv"] = _digest(grade / "gradebook.csv")
    for results in sorted(grade.glob("*/results.json")):
        out[f"grade/{results.parent.name}/results.json"] = _digest(results)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("save", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, folder = argv[0], Path(argv[1])
    with tempfile.TemporaryDirectory(prefix="iv-identical-") as tmp:
        now = fingerprints(Path(tmp))
        if mode == "save":
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "fingerprints.json").write_text(json.dumps(now, indent=1, sort_keys=True))
            # Keep the outputs too, so that a difference can be read, not only seen.
            shutil.copytree(Path(tmp) / "grade", folder / "grade", dirs_exist_ok=True)
            print(f"saved {len(now)} fingerprints in {folder}")
            return 0
    before = json.loads((folder / "fingerprints.json").read_text())
    differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    for name in differ:
        print(f"DIFFERS: {name}")
    print(f"{len(now) - len(differ)} of {len(before.keys() | now.keys())} fingerprints identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
