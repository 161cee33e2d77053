"""The Markdown sanitiser on its own: which links, tags and attributes reach customers' browsers."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from chatbot.api.markdown import render_markdown

# What the sanitiser may let through; anything else in its output is a leak.
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "rel"}}
REL = "noopener noreferrer nofollow"


@dataclass
class Parsed:
    """The elements of an HTML fragment, in document order, and its text."""

    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    text: str = ""

    @property
    def tags(self) -> list[str]:
        return [tag for tag, _ in self.elements]

    @property
    def hrefs(self) -> list[str | None]:
        return [attributes.get("href") for tag, attributes in self.elements if tag == "a"]


def parse(html: str) -> Parsed:
    parsed = Parsed()

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            parsed.elements.append((tag, dict(attrs)))

        def handle_data(self, data: str) -> None:
            parsed.text += data

    collector = Collector(convert_charrefs=True)
    collector.feed(html)
    collector.close()
    return parsed


@pytest.mark.parametrize(
    ("markdown", "hrefs"),
    [
        ("[orders](https://shop.example/orders)", ["https://shop.example/orders"]),
        ("[orders](http://shop.example/orders)", ["http://shop.example/orders"]),
        ("[write](mailto:help@shop.example)", ["mailto:help@shop.example"]),
        ("[call](tel:+442079460123)", ["tel:+442079460123"]),
        ("[orders](/account/orders)", ["/account/orders"]),
        ("<https://shop.example>", ["https://shop.example"]),
        # Schemes that run code or smuggle content: no link survives, whatever the case.
        ("[x](javascript:alert(1))", []),
        ("[x](JaVaScRiPt:alert(1))", []),
        ("[x](&#106;avascript:alert(1))", []),
        ("<javascript:alert(1)>", []),
        ("[x](vbscript:msgbox(1))", []),
        ("[x](VBScript:msgbox(1))", []),
        ("[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", []),
        # markdown-it lets image data URLs through; the sanitiser must drop the href.
        ("[x](data:image/png;base64,iVBORw0KGgo=)", [None]),
        ("[x](DaTa:image/png;base64,iVBORw0KGgo=)", [None]),
        ("[x](ftp://files.example/price-list.pdf)", [None]),
        ("[x](blob:https://shop.example/1)", [None]),
    ],
)
def test_only_web_mail_and_phone_links_keep_their_target(
    markdown: str, hrefs: list[str | None]
) -> None:
    assert parse(render_markdown(markdown)).hrefs == hrefs


def test_every_link_opens_without_the_opener_or_a_referrer() -> None:
    parsed = parse(render_markdown('[a](https://a.example "A title") and <https://b.example>'))
    assert [attributes for tag, attributes in parsed.elements if tag == "a"] == [
        {"href": "https://a.example", "title": "A title", "rel": REL},
        {"href": "https://b.example", "rel": REL},
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        "![a parcel](https://shop.example/parcel.png)",
        "![a parcel](data:image/png;base64,iVBORw0KGgo=)",
        '![a parcel](https://shop.example/parcel.png "title")',
    ],
)
def test_images_are_dropped(markdown: str) -> None:
    parsed = parse(render_markdown(markdown))
    assert "img" not in parsed.tags
    assert "parcel.png" not in render_markdown(markdown)


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ('<b onclick="steal()">hi</b>', '<p>&lt;b onclick="steal()"&gt;hi&lt;/b&gt;</p>'),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"),
        (
            '<a href="javascript:alert(1)">x</a>',
            '<p>&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;</p>',
        ),
    ],
)
def test_raw_html_is_shown_as_text(markdown: str, html: str) -> None:
    assert render_markdown(markdown) == html
    assert parse(render_markdown(markdown)).tags == ["p"]


def test_a_table_keeps_its_structure_and_inline_markup() -> None:
    markdown = "| Size | Chest |\n|---|---|\n| S | **90** cm |\n| M | 96 cm |"
    parsed = parse(render_markdown(markdown))
    assert parsed.tags == [
        "table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td", "strong", "tr", "td", "td",
    ]  # fmt: skip
    assert parsed.text.split() == ["Size", "Chest", "S", "90", "cm", "M", "96", "cm"]


def test_the_table_cells_lose_their_alignment_styles() -> None:
    parsed = parse(render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |"))
    assert {tag for tag, attributes in parsed.elements if attributes} == set()


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("**bold** and *em*", "<p><strong>bold</strong> and <em>em</em></p>"),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
        ("### Delivery", "<h3>Delivery</h3>"),
        ("# Delivery", "Delivery"),  # a page-sized heading would dwarf the chat: text only
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("`code`", "<p><code>code</code></p>"),
    ],
)
def test_everyday_markup(markdown: str, html: str) -> None:
    assert render_markdown(markdown) == html


def test_nothing_outside_the_allowed_tags_and_attributes_gets_through() -> None:
    everything = "\n\n".join(
        [
            "# h1\n\n## h2\n\n### h3",
            "> quote\n\n---\n\n1. one\n2. two",
            "```\npre\n```",
            "![img](https://x.example/a.png) <iframe src=https://x.example></iframe>",
            '<style>p{}</style> <form action="/x"><input></form> <svg onload=alert(1)>',
            "[link](https://x.example) [bad](javascript:void(0))",
            "| a |\n|---|\n| <u>b</u> |",
        ]
    )
    for tag, attributes in parse(render_markdown(everything)).elements:
        assert set(attributes) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attributes)
        assert tag in {
            "a", "p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li",
            "blockquote", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th",
            "td", "del",
        }, tag  # fmt: skip
