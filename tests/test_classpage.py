"""class.html: the score distribution, the mistakes by cause with their students, the
items most failed; self-contained and linked from the gradebook."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
from test_grade_cache import graded_from_text

from reports import screenshot
from reports.grading import classpage, gradebook


def test_class_page_counts_each_mistake_and_links_its_students(tmp_path: Path) -> None:
    files = {
        "a.py": "root=pass",
        "b.py": "grad=fail hint=sign",
        "c<i>.py": "grad=fail hint=sign",
        "d.py": "root=fail graph=fail hint=unrolled",
    }
    graded = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        graded.append(graded_from_text(tmp_path / name, name))
    page = classpage.to_html(graded)
    mistakes = page[page.index("id='mistakes'") :]
    # The most common first, with how many and who (linked to their reports), escaped.
    first = mistakes[: mistakes.index("</tr>", mistakes.index("<tbody>"))]
    assert "<code>sign</code>" in first
    assert "<td class='num'>2</td>" in first
    assert '<a href="b.py/report.html">b.py</a>' in first
    assert "c&lt;i&gt;.py" in first
    assert "c<i>.py" not in page
    assert "<code>unrolled</code>" in mistakes
    # Items most failed: grad lost by 2 of 4, before root (1) and graph (1).
    items = page[page.index("Items most failed") :]
    assert items.index("<code class='iv-note'>grad</code>") < items.index(
        "<code class='iv-note'>root</code>"
    )
    assert "2 / 4" in items


def test_class_page_is_self_contained_with_an_inlined_histogram(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("root=pass")
    page = classpage.to_html([graded_from_text(tmp_path / "a.py", "a.py")])
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert not re.search(r"(src|href)=['\"]https?:", page)
    assert "href='gradebook.html'" in page


def test_gradebook_links_the_class_page(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("root=pass")
    graded = [graded_from_text(tmp_path / "a.py", "a.py")]
    assert 'href="class.html"' in gradebook.to_html(graded, class_page=classpage.FILE)
    assert "class.html" not in gradebook.to_html(graded)


@pytest.mark.browser
def test_class_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    if absent := screenshot.missing():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {', '.join(absent)} not installed")
        pytest.skip(f"{', '.join(absent)} not installed (apt-get install chromium chromium-driver)")
    graded = []
    for name, text in {"a.py": "root=pass", "b.py": "grad=fail hint=sign"}.items():
        (tmp_path / name).write_text(text)
        graded.append(graded_from_text(tmp_path / name, name))
    page = tmp_path / classpage.FILE
    page.write_text(classpage.to_html(graded), encoding="utf-8")
    with screenshot.chromium(1000, 900) as driver:
        driver.get(page.resolve().as_uri())
        drawn = "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        assert driver.execute_script(drawn)
        rows = driver.execute_script(
            "return document.querySelectorAll('#mistakes tbody tr').length"
        )
        assert rows == 1
        link = driver.execute_script("return document.querySelector('#mistakes a').href")
        assert link.endswith("/b.py/report.html")
