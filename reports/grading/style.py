"""The CSS the grader's HTML pages share (the class page and the gradebook)."""

from __future__ import annotations

#: Page body, headings and the ``iv-grid`` table: the start of each page's ``<style>``.
GRID_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#202124}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.4em}
table.iv-grid{border-collapse:collapse;font-size:.92em}
.iv-grid th,.iv-grid td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;
vertical-align:top}
"""
