"""Web pages (.html, .htm) through trafilatura: the main text only, with its headings.

trafilatura (Apache-2.0) finds the page's main content and drops site furniture
(navigation, sidebars, footers, comments, ads); its structured output keeps
``<h1>``–``<h6>`` as headings, paragraphs, list items and tables. The first ``<h1>``
(or the page's title when there is none) is the title; ``<hN>`` headings are of level N
below it. A scraped page saved as text is still cleaned by :func:`qa.corpus.clean_page`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import Settings
from ..corpus import Document
from ..errors import CorpusError
from . import Reader, register
from ._build import Part, build_document, one_line, tidy
from .text import decode

_HEADING = re.compile(r"h([1-6])")
_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w-]+)", re.I)


def _decode_page(path: Path, data: bytes) -> str:
    declared = _CHARSET.search(data[:4096])
    if declared:
        encoding = declared.group(1).decode("ascii").lower()
        if encoding in ("gb2312", "gbk", "x-gbk"):  # pages declaring these often use GB18030's wider set
            encoding = "gb18030"
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(data, path)[0]


def _lines(el) -> list[str]:
    """An element's text, cut at its line breaks (``<br>``)."""
    chunks = [el.text or ""]
    for child in el:
        if child.tag == "lb":
            chunks.append("\n")
        else:
            chunks.append("".join(child.itertext()))
        chunks.append(child.tail or "")
    return [t for t in (tidy(line) for line in "".join(chunks).split("\n")) if t]


def _table(el) -> str:
    rows = []
    for row in el.iter("row"):
        cells = [tidy("".join(cell.itertext())) for cell in row if cell.tag in ("cell", "head")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _parts(body, title: str, author: str) -> list[Part]:
    parts: list[Part] = []
    seen_title = False
    for el in body:
        heading = _HEADING.fullmatch(el.get("rend") or "") if el.tag == "head" else None
        if el.tag == "head":
            text = one_line("".join(el.itertext()))
            level = int(heading.group(1)) if heading else 2
            if not seen_title and not parts and (level == 1 or text == title):
                parts.append(Part(text, kind="title"))
                seen_title = True
            elif text:
                parts.append(Part(text, heading_level=level))
        elif el.tag == "table":
            text = _table(el)
            if text:
                parts.append(Part(text, kind="table"))
        elif el.tag == "list":
            for item in el.iter("item"):
                parts.extend(Part(line) for line in _lines(item))
        elif el.tag in ("p", "quote", "code"):
            parts.extend(Part(line) for line in _lines(el))
        else:
            text = tidy("".join(el.itertext()))
            if text:
                parts.append(Part(text))
    if not seen_title and title:
        parts.insert(0, Part(title, kind="title"))
    if author and not any(p.text == author for p in parts[:3]):
        parts.insert(1 if parts and parts[0].kind == "title" else 0, Part(author, kind="author"))
    return parts


def _config():
    """trafilatura's settings for Chinese pages: Chinese is dense, so a short page still has structure.

    Below ``MIN_EXTRACTED_SIZE`` characters trafilatura falls back to a flat text without
    headings; its default (250) is a long Chinese notice. No time limit (it uses signals,
    which only work in the main thread) and no size limit beyond ours.
    """
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "10")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    config.set("DEFAULT", "MAX_FILE_SIZE", str(10**10))
    return config


def read_html(path: Path, data: bytes, settings: Settings) -> Document:
    """A web page's main text as a document."""
    import trafilatura

    page = _decode_page(path, data)
    result = trafilatura.bare_extraction(page, output_format="python", include_formatting=True,
                                         include_tables=True, include_comments=False, favor_recall=True,
                                         deduplicate=False, with_metadata=True, config=_config())
    if result is None or result.body is None or not "".join(result.body.itertext()).strip():
        raise CorpusError(f"{path}: no main text found in the web page")
    title = one_line(result.title or "")
    author = one_line(result.author or "")
    return build_document(path, _parts(result.body, title, author), title=title)


def _is_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    return start.startswith((b"<!doctype html", b"<html"))


register(Reader("web page", (".html", ".htm", ".xhtml"), read_html, sniff=_is_html))
