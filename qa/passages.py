"""Split documents into passages along their heading hierarchy.

Chinese official documents use a fixed heading grammar: ``一、`` sections,
``（一）``/``(一)`` subsections, ``1.`` points, ``(1)`` sub-points. Scraped pages
often lose their line breaks, so paragraphs are separated by a space between two
Chinese characters and headings run straight into body text. This module turns
that into passages, each carrying its heading path as context; headings are never
passages of their own. Markdown ``#`` headings work as well (a ``#`` line is never cut
at its spaces). Headings carry over from one block to the next, so a document read
paragraph by paragraph (PDF, Word, web pages) nests as its text version does; a table
block is one passage under the current headings (cut between rows when too long).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

from .config import Settings
from .corpus import BLOCK_LABELS, Block, Document

PATH_SEPARATOR = " › "

_NUM = "一二三四五六七八九十百零〇"
#: (level, pattern) of each heading marker, tried at the start of a paragraph.
_MARKERS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (1, re.compile(rf"[{_NUM}]+[、]")),
    (2, re.compile(rf"[（(][{_NUM}]+[）)]")),
    (3, re.compile(r"\d{1,2}[.．、](?!\d)")),
    (4, re.compile(r"[（(]\d{1,2}[）)]")),
)
_MD_HEADING = re.compile(r"(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_MD_LINE = re.compile(r"#{1,6}[ \t]+\S")
#: Markdown levels sit above the Chinese grammar levels (which run 1..4).
_MD_LEVEL_OFFSET = -7
#: A heading ends at the first of these, or at a paragraph break.
_HEADING_END = re.compile(r"[。！？；：:!?;\s]")
_CLAUSE_END = re.compile(r"[,，]")
MAX_HEADING_CHARS = 40

_CJKP = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef“”‘’、"
#: Whitespace that separates paragraphs: any line break, or spaces between Chinese text and
#: Chinese text / an opening bracket or quote (Chinese prose never has spaces inside a sentence).
_PARAGRAPH_BREAK = re.compile(rf"\s*\n\s*|(?<=[{_CJKP}.,;:!?)）])[ \t\u3000]+(?=[{_CJKP}(（【\[“\"0-9])")
_SENTENCE = re.compile(r"[^。！？；!?;\n]+(?:[。！？；!?;]+[”’」』)）]*)?|[。！？；!?;]+")


@dataclass(frozen=True)
class Passage:
    """A retrievable unit of text with where it comes from."""

    id: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    start: int
    end: int
    source: str
    page: int | None = None
    """1-based PDF page the passage starts on."""
    paragraph: int | None = None
    """1-based Word paragraph number (non-empty paragraphs; a table counts as one)."""

    @property
    def breadcrumb(self) -> str:
        """The heading path as one line, e.g. ``二、… › (一)… › 1.…``."""
        return PATH_SEPARATOR.join(self.heading_path)

    def sentences(self) -> list[tuple[int, int]]:
        """Spans of the passage's sentences, relative to its text."""
        return sentence_spans(self.text)

    def context_text(self) -> str:
        """Text the retrievers see: headings give context to the passage under them."""
        return "\n".join([*self.heading_path, self.text]) if self.heading_path else self.text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Passage":
        return cls(**{**d, "heading_path": tuple(d["heading_path"])})


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a text (end punctuation and closing quotes kept with the sentence)."""
    spans = []
    for m in _SENTENCE.finditer(text):
        s, e = m.span()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def _paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Paragraph spans within text[start:end]; a Markdown heading line is one paragraph whatever its spaces."""
    pos = start
    while pos < end:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        if _MD_LINE.match(text, pos, end):
            line_end = text.find("\n", pos, end)
            line_end = end if line_end < 0 else line_end
            stop = line_end
            while stop > pos and text[stop - 1].isspace():
                stop -= 1
            yield pos, stop
            pos = line_end
            continue
        m = _PARAGRAPH_BREAK.search(text, pos, end)
        if m is None:
            yield pos, end
            return
        if m.start() > pos:
            yield pos, m.start()
        pos = m.end()


def split_heading(para: str) -> tuple[int, str, int] | None:
    """If a paragraph starts with a heading, return (level, heading text, where the body starts)."""
    md = _MD_HEADING.fullmatch(para)
    if md:
        return len(md.group(1)) + _MD_LEVEL_OFFSET, md.group(2).strip(), len(para)
    for level, marker in _MARKERS:
        m = marker.match(para)
        if not m:
            continue
        rest_start = m.end()
        window = para[rest_start: rest_start + MAX_HEADING_CHARS + 1]
        stop = _HEADING_END.search(window)
        if stop is None and len(window) > MAX_HEADING_CHARS:
            stop = _CLAUSE_END.search(window)
        cut = rest_start + (stop.start() if stop else len(window))
        heading = para[:cut].strip()
        if cut == rest_start:  # a bare marker is not a heading
            return None
        body = cut
        while body < len(para) and (para[body] in "。；;：:" or para[body].isspace()):
            body += 1
        return level, heading, body
    return None


def _chunks(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long paragraph at sentence boundaries into pieces of at most ``limit`` chars."""
    if end - start <= limit:
        yield start, end
        return
    piece_start = start
    piece_end = start
    for s, e in sentence_spans(text[start:end]):
        s, e = s + start, e + start
        if e - piece_start > limit and piece_end > piece_start:
            yield piece_start, piece_end
            piece_start = s
        piece_end = e
    if piece_end > piece_start:
        yield piece_start, piece_end


def split_document(doc: Document, settings: Settings | None = None) -> list[Passage]:
    """All passages of one document, in reading order, with stable ids ``doc_id:NNN``."""
    settings = settings or Settings()
    spans: list[tuple[tuple[str, ...], int, int, Block]] = []
    stack: list[tuple[int, str]] = []  # the open headings, carried from block to block
    for block in doc.blocks:
        if block.kind not in ("body", "table"):
            spans.append(((BLOCK_LABELS[block.kind],), block.start, block.end, block))
            continue
        if not settings.split_contexts:
            spans.append(((), block.start, block.end, block))
            continue
        if block.kind == "table":
            path = tuple(h for _, h in stack)
            for c_start, c_end in _chunks(doc.text, block.start, block.end, settings.max_passage_chars):
                spans.append((path, c_start, c_end, block))
            continue
        for p_start, p_end in _paragraphs(doc.text, block.start, block.end):
            para = doc.text[p_start:p_end]
            head = split_heading(para)
            if head is not None:
                level, heading, body_at = head
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, heading))
                p_start += body_at
                if p_start >= p_end:
                    continue
            path = tuple(h for _, h in stack)
            for c_start, c_end in _chunks(doc.text, p_start, p_end, settings.max_passage_chars):
                spans.append((path, c_start, c_end, block))
    return [
        Passage(
            id=f"{doc.doc_id}:{i:03d}",
            doc_id=doc.doc_id,
            title=doc.title,
            heading_path=path,
            text=doc.text[s:e],
            start=s,
            end=e,
            source=doc.source,
            page=block.page,
            paragraph=block.paragraph,
        )
        for i, (path, s, e, block) in enumerate(spans)
    ]


def split_corpus(documents: Sequence[Document], settings: Settings | None = None) -> list[Passage]:
    """Passages of every document, in corpus order."""
    return [p for d in documents for p in split_document(d, settings)]
