"""Assemble a :class:`~qa.corpus.Document` from the paragraphs a structured reader found.

Structured formats (PDF, Word, web pages) arrive as paragraphs that already know
what they are, where they were, and which are headings. Headings reach the
passage splitter as text lines it recognises: a heading that the Chinese heading
grammar already reads (``一、…``, ``（一）…``, ``1.…``, ``(1)…``) stays as it is, so its
level and text are exactly those of the same document saved as text; a heading the
grammar would not see (``第一章 总则``, ``Background``) becomes a Markdown ``#`` line of
its level, which the splitter places above the grammar's levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..corpus import Block, BlockKind, Document, doc_id_of, matter_kind
from ..errors import CorpusError
from ..passages import split_heading

#: A table-of-contents entry: a heading, leader dots, a page number (``一、总体要求……3``).
TOC_ENTRY = re.compile(r".{1,80}?(?:[.…·．]\s*){4,}\s*\d{1,4}\s*")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef“”‘’"
_SPACE_IN_CJK = re.compile(rf"(?<=[{_CJK}])[ \t\u00a0]+(?=[{_CJK}])")


@dataclass
class Part:
    """One paragraph (or table) of a structured file."""

    text: str
    kind: BlockKind = "body"
    page: int | None = None
    paragraph: int | None = None
    heading_level: int | None = None
    """1 for the top heading level, 2 below it, …; ``None`` for text."""


def heading_line(text: str, level: int) -> str:
    """A heading as the line the passage splitter reads (see the module docstring)."""
    text = _SPACES.sub(" ", text).strip()
    head = split_heading(text)
    if head is not None and head[2] >= len(text):
        return text
    return f"{'#' * max(1, min(level, 6))} {text}"


def one_line(text: str) -> str:
    """A title's or heading's text on one line, its spaces kept (``第一章 总则``)."""
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


def tidy(text: str) -> str:
    """One paragraph's text on one line: runs of spaces collapsed, none left between Chinese characters."""
    return _SPACE_IN_CJK.sub("", _SPACES.sub(" ", text.replace("\n", " "))).strip()


def build_document(path: Path, parts: list[Part], title: str = "") -> Document:
    """Join paragraphs into a document, recognising its title, author and back matter.

    The title is the part marked ``title`` (or ``title`` given); names right after it are
    the author; 【本文系…】 and (作者单位:…) paragraphs are back matter, as in the cleaned
    text of a scraped page.
    """
    chunks: list[str] = []
    blocks: list[Block] = []
    pos = 0
    previous: BlockKind | None = None
    for part in parts:
        text = part.text.strip()
        if not text:
            continue
        kind = part.kind
        if kind == "body" and part.heading_level is None:
            kind = matter_kind(text, after_title=previous == "title") or kind
        elif kind == "body":
            text = heading_line(text, part.heading_level)
        if kind == "title" and not title:
            title = text
        if chunks:
            chunks.append("\n\n")
            pos += 2
        blocks.append(Block(kind, pos, pos + len(text), page=part.page, paragraph=part.paragraph))
        chunks.append(text)
        pos += len(text)
        previous = kind
    text = "".join(chunks)
    if not text.strip():
        raise CorpusError(f"{path}: no text found in the file")
    return Document(doc_id=doc_id_of(path), title=title or path.stem, text=text, source=str(path),
                    blocks=tuple(blocks))
