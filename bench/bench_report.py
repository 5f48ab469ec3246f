"""Size of the HTML report and the time to produce it, for the default suite.

Usage::

    python bench/bench_report.py                       # the reference implementation
    python bench/bench_report.py --target examples/submissions/sign_error.py
    python bench/bench_report.py --target F --screenshot docs/report-failures.png

Runs ``python -m reports`` in a fresh process (what a user runs: the time
includes importing torch) and prints the report's size, the wall time, the
rows listed and the plots embedded, against the targets (<= 3 MB, <= 2 min).
A ``--target`` runs in its isolated worker (the default); ``--compare-in-process``
runs it a second time in process (``-- --in-process``) and prints the ratio of
the two wall times, measured in the same run.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_BYTES = 3 * 1024 * 1024
MAX_SECONDS = 120.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="file under test (default: the reference)")
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default: ci)")
    parser.add_argument("--out", type=Path, help="report path (default: a temporary file)")
    parser.add_argument("--screenshot", type=Path, help="also save the first screen as PNG")
    parser.add_argument(
        "--compare-in-process",
        action="store_true",
        help="also time the --target in process (no worker) and print the ratio",
    )
    options = parser.parse_args(argv)
    out = options.out or Path(tempfile.mkdtemp(prefix="bench-report-")) / "report.html"
    command = [sys.executable, "-m", "reports", "--out", str(out), "--profile", options.profile]
    if options.target:
        command += ["--target", options.target]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if not out.is_file():
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        print(f"no report written (exit status {done.returncode})")
        return 1
    size = out.stat().st_size
    text = out.read_text(encoding="utf-8")
    blob = re.search(r'data-jsonblob="(.*?)"', text, re.DOTALL)
    tests = json.loads(html.unescape(blob.group(1)))["tests"] if blob else {}
    rows = sum(len(v) for v in tests.values())
    plots = text.count("data:image/png;base64,")
    summary = re.search(r"(\d+ (?:passed|failed)[^\n]*) in [\d.]+s", done.stdout)
    print(f"target        {options.target or 'implicit (reference)'}")
    print(f"profile       {options.profile}")
    print(f"pytest        {summary.group(1) if summary else done.stdout.strip()[-200:]}")
    print(f"report        {out}")
    print(f"size          {size / 1e6:.2f} MB  ({'ok' if size <= MAX_BYTES else 'OVER'} <= 3 MB)")
    print(f"time          {seconds:.1f} s  ({'ok' if seconds <= MAX_SECONDS else 'OVER'} <= 120 s)")
    print(f"rows listed   {rows}")
    print(f"images        {plots} (PNG, embedded, rows + summary; gallery thumbnails in HTML)")
    if options.target and options.compare_in_process:
        start = time.perf_counter()
        subprocess.run(
            [*command, "--out", str(out.with_name("in-process.html")), "--", "--in-process"],
            capture_output=True,
            text=True,
            check=False,
        )
        base = time.perf_counter() - start
        print(f"in process    {base:.1f} s  (isolated / in process = {seconds / base:.2f})")
    if options.screenshot:
        from reports.screenshot import screenshot

        screenshot(out, options.screenshot)
        print(f"screenshot    {options.screenshot}")
    return 0 if size <= MAX_BYTES and seconds <= MAX_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
