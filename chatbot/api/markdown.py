"""Answers are Markdown; customers' browsers get sanitised HTML that can run no script."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "a", "p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li", "blockquote",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in a knowledge base is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> str:
    """Markdown to HTML with only harmless tags, attributes and link schemes left.

    Example:
        >>> render_markdown("**Hi** <script>x()</script>")
        '<p><strong>Hi</strong> &lt;script&gt;x()&lt;/script&gt;</p>'
    """
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
    ).strip()
