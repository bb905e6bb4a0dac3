"""Markdown written by the office (session summaries, newsletter text) as safe HTML and as plain text.

markdown-it (CommonMark) renders with raw HTML switched off, so a <script> typed into a summary is
shown as text; nh3 then keeps only the tags and attributes a mail client or page needs, drops event
handlers, and allows only http(s) and mailto links (no javascript:). The text version walks the same
tokens, so headings, lists and links (as URLs) read well in a text/plain part.
"""
import textwrap

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("strikethrough")

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "s", "a", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "code", "pre", "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _demote_headings(tokens) -> None:
    """# in a summary is a heading inside a page or mail that has its own h1: start at h2."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 4)}"


def to_html(source: str | None) -> Markup:
    """Safe HTML for `source` (empty for None)."""
    if not source:
        return Markup("")
    tokens = _md.parse(source)
    _demote_headings(tokens)
    html = _md.renderer.render(tokens, _md.options, {})
    clean = nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer"
    )
    return Markup(clean)


def to_text(source: str | None, width: int = 72) -> str:
    """Plain text for a text/plain mail part: headings underlined, list bullets, links as "text (URL)"."""
    if not source:
        return ""
    blocks: list[str] = []
    lists: list[list] = []  # per open list: [ordered, next number]
    heading = 0  # level of the heading being read
    quote = item_before = False
    for token in _md.parse(source):
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = 0
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            item_before = item_before and bool(lists)  # a new list starts a block; a nested one continues
            lists.append([token.type == "ordered_list_open", int(token.attrGet("start") or 1)])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "blockquote_open":
            quote = True
        elif token.type == "blockquote_close":
            quote = False
        elif token.type == "hr":
            blocks.append("-" * 20)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "inline":
            text = _block_text(_inline_text(token), heading, lists, quote, width)
            if lists and item_before:  # the items of a list stay together, one per line
                blocks[-1] += "\n" + text
            else:
                blocks.append(text)
            item_before = bool(lists)
    return "\n\n".join(b for b in blocks if b)


def _block_text(text: str, heading: int, lists: list[list], quote: bool, width: int) -> str:
    if heading >= 4:  # the smallest headings read as a marked line, so the levels above stand out
        return f"» {text}"
    if heading:
        return f"{text}\n{('=' if heading <= 2 else '-') * min(len(text), width)}"
    if lists:
        ordered, number = lists[-1]
        marker = f"{number}." if ordered else "-"
        lists[-1][1] += 1
        indent = "  " * (len(lists) - 1)
        return textwrap.fill(
            text, width, initial_indent=f"{indent}{marker} ", subsequent_indent=indent + " " * (len(marker) + 1),
            break_long_words=False, break_on_hyphens=False,
        )  # fmt: skip
    prefix = "> " if quote else ""
    lines = [textwrap.fill(line, width, initial_indent=prefix, subsequent_indent=prefix, break_long_words=False,
                           break_on_hyphens=False) for line in text.split("\n")]  # fmt: skip
    return "\n".join(lines)


def _inline_text(token) -> str:
    parts: list[str] = []
    href = None
    link_text: list[str] = []
    for child in token.children or ():
        if child.type == "link_open":
            href, link_text = child.attrGet("href"), []
        elif child.type == "link_close":
            label = "".join(link_text)
            if href and href.startswith(("http://", "https://", "mailto:")):
                target = href.removeprefix("mailto:")
                parts.append(label if label == target else f"{label} ({target})")
            else:
                parts.append(label)
            href = None
        elif child.type in ("text", "code_inline"):
            (link_text if href is not None else parts).append(child.content)
        elif child.type == "softbreak":
            (link_text if href is not None else parts).append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)
