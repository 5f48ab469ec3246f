"""Open a report in Debian's headless Chromium (selenium), for tests and screenshots.

Usage::

    python -m reports.screenshot out/report.html docs/report-failures.png [--height 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
ROWS_JS = "return document.querySelectorAll('#results-table tbody.results-table-row').length"


def missing() -> list[str]:
    """The browser binaries that are not installed (empty when the browser can run)."""
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium webdriver with a fresh profile, closed on exit.

    Raises:
        RuntimeError: when Chromium or chromedriver is not installed.
    """
    if absent := missing():
        raise RuntimeError(
            f"{', '.join(absent)} not installed: apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver: Any, report: Path, timeout: float = 30.0) -> int:
    """Load ``report`` and wait until its table and images are rendered; returns the row count."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(report.resolve().as_uri())
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(ROWS_JS) > 0)
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
    )
    return int(driver.execute_script(ROWS_JS))


def screenshot(report: Path, png: Path, width: int = 1400, height: int = 1000) -> int:
    """Save the first screen of ``report`` as ``png``; returns the number of rows rendered."""
    with chromium(width, height) as driver:
        rows = open_report(driver, report)
        png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(png))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.screenshot", description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    options = parser.parse_args(argv)
    rows = screenshot(options.report, options.png, options.width, options.height)
    print(f"{options.png}: first screen of {options.report} ({rows} rows rendered)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
