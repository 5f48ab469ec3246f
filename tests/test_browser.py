"""Open a generated report in headless Chromium (Debian's) and check what a person sees.

The report is made for a submission with a sign error in ``dy/dx`` that also
prints and returns ``<script>`` text.  The test asserts that the results table
rendered the expected rows, that the summary shows the counts, that every
image decoded (``naturalWidth > 0``), that sorting works, and that no script
from the submission ran.  It runs whenever ``/usr/bin/chromium`` and
``/usr/bin/chromedriver`` exist; under CI (``$CI`` set) their absence is a
failure, not a skip, since ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reports import plots, samples, screenshot  # noqa: F401 - import torch/matplotlib once: pytester restores sys.modules

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.browser

HOSTILE = '<script>alert("xss")</script><img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium with a fresh profile (a skip without it; a failure under CI)."""
    if absent := screenshot.missing():
        message = f"{', '.join(absent)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {message}")
        pytest.skip(message)
    with screenshot.chromium() as driver:
        yield driver


@pytest.fixture
def failing_report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A report for a sign-error submission on four circle cases and one map case."""
    monkeypatch.setenv("FAKE_SIGN_ERROR", "1")
    monkeypatch.setenv("FAKE_HOSTILE", HOSTILE)
    pytester.makepyfile(test_fake=samples.FAKE_SUITE)
    result = pytester.runpytest(
        *samples.STRICT_WARNINGS,
        "--html=report.html",
        "--self-contained-html",
        "--target",
        "sign_error.py",
    )
    result.assert_outcomes(failed=4, passed=1, skipped=1)
    return pytester.path / "report.html"


def test_report_renders_rows_summary_and_images(
    browser: object, failing_report: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver = browser
    assert screenshot.open_report(driver, failing_report) == 6

    # No script from the submission ran.
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property access is the check
    assert driver.execute_script("return window.__xss === undefined")

    # The table: one row per test, with our columns and the expected statuses.
    statuses = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results-table td.col-status")
    ]
    assert sorted(statuses) == ["", "degenerate", "fail", "fail", "fail", "fail"]
    families = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.col-family")}
    assert families == {"", "circle", "curve-map"}
    got_cells = driver.find_elements(By.XPATH, "//table[@class='iv-checks']//td[6]/code")
    assert any(HOSTILE in e.text for e in got_cells)  # shown as text, not run

    # The summary: verdict, per-property and per-family counts.
    verdict = driver.find_element(By.CSS_SELECTOR, ".iv-verdict").text
    assert "sign_error.py fails 2 of 4 properties" in verdict
    first = driver.find_element(By.CSS_SELECTOR, ".iv-failures li").text
    assert "dy_dx_true failed on 3 of 4 cases" in first
    assert "x = 0.5" in first
    counts = driver.find_element(By.CSS_SELECTOR, "table[data-summary='property']").text
    assert "dy_dx_true 0 3 1 0" in counts
    families = driver.find_element(By.CSS_SELECTOR, "table[data-summary='family']").text
    assert "circle 0 3 1 0" in families

    # Every image decoded: the thumbnails beside the verdict and the rows' plots.
    widths = driver.execute_script(
        "return [...document.images].filter(i => i.getAttribute('src'))"
        ".map(i => [i.closest('.iv-thumbs, .media') ? 1 : 0, i.naturalWidth])"
    )
    assert len(widths) >= 2 + 4, widths  # two thumbnails, four failing/degenerate rows
    assert all(width > 0 for _, width in widths), widths

    driver.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_columns_sort_numerically(browser: object, failing_report: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    screenshot.open_report(driver, failing_report)
    driver.find_element(By.CSS_SELECTOR, "th[data-column-type='point']").click()
    points = [
        e.text
        for e in driver.find_elements(By.CSS_SELECTOR, "#results-table td.col-point")
        if e.text.startswith("x = ")
    ]
    values = [float(p.removeprefix("x = ")) for p in points]
    assert len(values) == 4
    assert values in (sorted(values), sorted(values, reverse=True)), values


def test_real_suite_report_for_the_sign_error_submission(browser: object, tmp_path: Path) -> None:
    """The property suite itself, on a handful of frozen cases, for examples/submissions/."""
    from selenium.webdriver.common.by import By

    submission = Path(__file__).parents[1] / "examples" / "submissions" / "sign_error.py"
    report = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reports",
            "--target",
            str(submission),
            "--out",
            str(report),
            "--",
            "-q",
            "-k",
            "test_frozen_case and sqrt",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    failed = int(re.findall(r"^(\d+) failed", done.stdout, re.MULTILINE)[-1])
    driver = browser
    assert screenshot.open_report(driver, report) == failed
    verdict = driver.find_element(By.CSS_SELECTOR, ".iv-verdict").text
    assert "sign_error.py (fixed_point) fails" in verdict
    first = driver.find_element(By.CSS_SELECTOR, ".iv-failures li").text
    assert first.startswith("dx_da_")
    assert "sqrt" not in first  # the case as text, the smallest one
    assert "x0 = [" in first
    statuses = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "td.col-status")}
    assert statuses == {"fail"}
    widths = driver.execute_script(
        "return [...document.images].filter(i => i.getAttribute('src')).map(i => i.naturalWidth)"
    )
    assert widths
    assert all(w > 0 for w in widths)
