from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

import pytest

from properties import profiles

profiles.load()


class HtmlTags(HTMLParser):
    """The start tags and attribute names of an HTML text (to prove escaping)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


@pytest.fixture
def html_tags() -> Callable[[str], HtmlTags]:
    """Parse an HTML text into its ``HtmlTags``."""

    def parse(text: str) -> HtmlTags:
        parser = HtmlTags()
        parser.feed(text)
        return parser

    return parse
