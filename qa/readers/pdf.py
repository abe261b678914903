"""PDF (.pdf) through pypdfium2 (PDFium, BSD/Apache licensed): text with its layout.

Each page's characters come with their boxes, font sizes and weights, in the
file's reading order. From them:

* **lines** are re-joined into paragraphs: no space between Chinese characters, a
  space between Latin words, a hyphen at a line end dropped. A line ends its
  paragraph when it stops short of the right margin (unless it ends inside a
  clause, on ``，、：``), when the next line is indented, set in another size or
  weight, further away than the usual line spacing, or starts with a heading
  marker (一、, （一）, 1., (1)). A paragraph running over a page break is one
  paragraph, kept on the page it starts on.
* **running headers and footers** (a line in the top or bottom band of the page
  whose text, digits aside, recurs on many pages), **page numbers** (``3``,
  ``- 3 -``, ``第3页``, ``3/10``, ``Page 3``) and table-of-contents lines are dropped.
* **headings**: the grammar's headings are found later by the passage splitter as
  in any text; a short paragraph set larger than the body text, or all bold, is a
  heading too, its level from its size. The largest text opening page 1 is the title.

A PDF without any text (a scan) is refused: it needs OCR first.
"""

from __future__ import annotations

import math
import re
import statistics
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..corpus import Document
from ..errors import CorpusError
from . import Reader, register
from ._build import TOC_ENTRY, Part, build_document, one_line, tidy

#: Share of the page height, from the top and from the bottom, where running headers/footers live.
_BAND = 0.12
_PAGE_NUMBER = re.compile(
    r"[-–—\s]*(?:第\s*)?\d{1,4}\s*页?(?:\s*[/／]\s*\d{1,4}|\s*共\s*\d{1,4}\s*页)?[-–—\s]*"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|[ivx]{1,6}|[IVX]{1,6}", re.I)
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f“”‘’]")
#: A line ending in one of these continues on the next line even when it is short.
_CLAUSE_GOES_ON = tuple("，,、：:（(“‘《—")
_SENTENCE_END = tuple("。！？；!?;…”’」』）)")
_HEADING_START = re.compile(r"[一二三四五六七八九十百零〇]+、|[（(][一二三四五六七八九十百零〇]+[）)]|\d{1,2}[.．、](?!\d)|[（(]\d{1,2}[）)]")
_BOLD_WEIGHT = 600
_MAX_HEADING_CHARS = 60
_MIN_LINES_FOR_COLUMNS = 8


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    page: int
    page_height: float
    page_width: float


@dataclass
class _Para:
    lines: list[_Line] = field(default_factory=list)
    text: str = ""

    @property
    def first(self) -> _Line:
        return self.lines[0]


def _page_lines(page, number: int) -> list[_Line]:
    """The text lines of one page, in the file's reading order."""
    import pypdfium2.raw as pdfium_c

    height = page.get_height()
    textpage = page.get_textpage()
    lines: list[_Line] = []
    chars: list[tuple[str, tuple[float, float, float, float] | None, float, int]] = []

    def flush() -> None:
        boxed = [c for c in chars if c[1] is not None]
        text = "".join(c[0] for c in chars).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        if boxed and text.strip():
            weights = [c[3] for c in boxed]
            lines.append(_Line(
                text=text.strip(), x0=min(c[1][0] for c in boxed), x1=max(c[1][2] for c in boxed),
                top=height - max(c[1][3] for c in boxed), bottom=height - min(c[1][1] for c in boxed),
                size=statistics.median(c[2] for c in boxed),
                bold=sum(w >= _BOLD_WEIGHT for w in weights) > len(weights) * 0.8,
                page=number, page_height=height, page_width=page.get_width()))
        chars.clear()

    try:
        for i in range(textpage.count_chars()):
            code = pdfium_c.FPDFText_GetUnicode(textpage.raw, i)
            ch = chr(code) if code < 0x110000 else "\ufffd"
            if ch == "\n":
                flush()
                continue
            if ch == "\r" or code in (0, 0xFFFE, 0xFFFF):
                continue
            if pdfium_c.FPDFText_IsGenerated(textpage.raw, i):
                if ch == " " and chars:
                    chars.append((" ", None, 0.0, 0))
                continue
            box = textpage.get_charbox(i, loose=True)
            if chars:  # a jump to another baseline without a generated line break
                last = next((c[1] for c in reversed(chars) if c[1] is not None), None)
                if last is not None and abs(box[1] - last[1]) > 0.6 * max(box[3] - box[1], 1.0):
                    flush()
            chars.append((ch, box, pdfium_c.FPDFText_GetFontSize(textpage.raw, i),
                          pdfium_c.FPDFText_GetFontWeight(textpage.raw, i)))
        flush()
    finally:
        textpage.close()
    return lines


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def _in_band(line: _Line) -> bool:
    return line.top < line.page_height * _BAND or line.bottom > line.page_height * (1 - _BAND)


def drop_furniture(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Pages without running headers/footers (band lines recurring on many pages), page numbers
    and table-of-contents lines (``一、总体要求……3``: they would read as headings)."""
    counts = Counter(key for lines in pages for key in {_furniture_key(ln.text) for ln in lines if _in_band(ln)})
    needed = max(2, math.ceil(0.4 * len(pages)))
    repeated = {key for key, n in counts.items() if n >= needed}
    kept = []
    for lines in pages:
        edge = {id(lines[0]), id(lines[-1])} if lines else set()
        kept.append([
            ln for ln in lines
            if not ((_in_band(ln) or id(ln) in edge) and _PAGE_NUMBER.fullmatch(ln.text))
            and not (_in_band(ln) and _furniture_key(ln.text) in repeated)
            and not TOC_ENTRY.fullmatch(ln.text)
        ])
    return kept


def _join(left: str, right: str) -> str:
    if not left:
        return right
    if _CJK.match(left[-1]) or _CJK.match(right[0]):
        return left + right
    if left.endswith("-") and len(left) > 1 and left[-2].isalpha() and right[0].islower():
        return left[:-1] + right
    return f"{left} {right}"


def _columns(lines: list[_Line], body_size: float) -> list[tuple[float, float]]:
    """(left, right) edges of a page's text columns: where many body lines start, and where most end.

    A left edge within four characters of another is a first-line indent, not a column.
    """
    body = [ln for ln in lines if abs(ln.size - body_size) < 0.5] or lines
    starts = Counter(round(ln.x0) for ln in body)
    lefts: list[float] = []
    for x in sorted(x for x, n in starts.items() if n >= max(2, 0.1 * len(body))):
        if not lefts or x - lefts[-1] > 4 * body_size:
            lefts.append(x)
    lefts = lefts or [min(ln.x0 for ln in body)]
    if len(lefts) == 1 and len(body) < _MIN_LINES_FOR_COLUMNS:  # too few lines to see the right margin:
        return [(lefts[0], max(max(ln.x1 for ln in body), body[0].page_width - lefts[0]))]  # as wide as the left
    columns = []
    for i, left in enumerate(lefts):
        upto = lefts[i + 1] - 1 if i + 1 < len(lefts) else math.inf
        rights = sorted(ln.x1 for ln in body if left - 1 <= ln.x0 < upto) or [max(ln.x1 for ln in body)]
        columns.append((left, rights[(len(rights) * 9) // 10]))
    return columns


def _column_of(line: _Line, columns: list[tuple[float, float]]) -> tuple[float, float]:
    return next((c for c in reversed(columns) if c[0] - 1 <= line.x0), columns[0])


def paragraphs(pages: list[list[_Line]]) -> list[_Para]:
    """Lines re-joined into paragraphs (see the module docstring for when a line ends one)."""
    every = [ln for lines in pages for ln in lines]
    if not every:
        return []
    body_size = Counter(round(ln.size, 1) for ln in every for _ in ln.text).most_common(1)[0][0]
    # Columns per page (layouts change: a title page, then two columns); a page of a few lines
    # (a cover, the end of a chapter) says little about its margins, so it takes the document's.
    whole = _columns(every, body_size)
    columns = {lines[0].page: _columns(lines, body_size) if len(lines) >= _MIN_LINES_FOR_COLUMNS else whole
               for lines in pages if lines}
    pitches = [b.top - a.top for lines in pages for a, b in zip(lines, lines[1:])
               if abs(a.size - b.size) < 0.5 and 0 < b.top - a.top < 3 * a.size]
    pitch = statistics.median(pitches) if pitches else 1.5 * body_size

    def ends_paragraph(a: _Line, b: _Line) -> bool:
        left, right = _column_of(b, columns[b.page])
        if abs(a.size - b.size) > 0.1 * body_size or a.bold != b.bold:
            return True
        if b.x0 > left + 0.9 * b.size:  # the next line is indented, or centred
            centre = (left + right) / 2  # a title or heading set larger and centred may run over two lines
            centred_heading = a.size > 1.15 * body_size and all(
                abs((ln.x0 + ln.x1) / 2 - centre) < ln.size for ln in (a, b))
            if not (centred_heading and b.page == a.page and b.top - a.top <= 2 * a.size):
                return True
        if b.page == a.page and b.top - a.top > 1.4 * max(pitch * a.size / body_size, 1.2 * a.size):
            return True
        if _HEADING_START.match(b.text) and a.text.endswith(_SENTENCE_END):
            return True
        a_left, a_right = _column_of(a, columns[a.page])
        short_by = a_right - a.x1
        if short_by < 1.5 * a.size or a.text.endswith(_CLAUSE_GOES_ON):
            return False
        # A line stopping short ends its paragraph, unless it is mid-sentence and only a little short:
        # the next word (a number, a Latin word) did not fit.
        return (a.text.endswith(_SENTENCE_END) or bool(_HEADING_START.match(a.text))
                or short_by > max(4 * a.size, 0.25 * (a_right - a_left)))

    paras: list[_Para] = []
    for line in every:
        if paras and not ends_paragraph(paras[-1].lines[-1], line):
            paras[-1].lines.append(line)
            paras[-1].text = _join(paras[-1].text, line.text)
        else:
            paras.append(_Para([line], line.text))
    return paras


def _parts(paras: list[_Para]) -> list[Part]:
    """Paragraphs as parts: the title, headings by size or weight, body text."""
    if not paras:
        return []
    sizes: Counter[float] = Counter()
    for p in paras:
        for ln in p.lines:
            sizes[round(ln.size, 1)] += len(ln.text)
    body_size = sizes.most_common(1)[0][0]
    para_sizes = [round(statistics.median(ln.size for ln in p.lines), 1) for p in paras]
    larger = sorted({s for s in para_sizes if s > body_size * 1.15}, reverse=True)
    has_title = bool(larger) and paras[0].first.page == 1 and para_sizes[0] == larger[0] \
        and para_sizes.count(larger[0]) == 1 and len(paras[0].text) <= _MAX_HEADING_CHARS
    heading_sizes = larger[1:] if has_title else larger
    parts: list[Part] = []
    for i, (p, size) in enumerate(zip(paras, para_sizes)):
        if i == 0 and has_title:
            parts.append(Part(one_line(p.text), kind="title", page=p.first.page))
            continue
        level = None
        if len(p.text) <= _MAX_HEADING_CHARS:
            if size in heading_sizes:
                level = heading_sizes.index(size) + 1
            elif all(ln.bold for ln in p.lines) and not p.text.endswith(_SENTENCE_END):
                level = len([s for s in heading_sizes if s > size]) + 1
        parts.append(Part(one_line(p.text) if level else tidy(p.text), page=p.first.page, heading_level=level))
    return parts


def _has_image(page) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))


def read_pdf(path: Path, data: bytes, settings: Settings) -> Document:
    """A PDF as a document of paragraphs, each knowing its page."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise CorpusError(f"{path}: the PDF is password-protected; save an unprotected copy") from None
        raise CorpusError(f"{path}: not a readable PDF ({exc})") from None
    try:
        pages = [_page_lines(pdf[i], i + 1) for i in range(len(pdf))]
        if not any(pages):
            raise CorpusError(f"{path} has no text layer: scanned PDFs need OCR first")
        empty = [str(i + 1) for i, lines in enumerate(pages) if not lines and _has_image(pdf[i])]
    finally:
        pdf.close()
    if empty:
        warnings.warn(f"{path}: page{'s' if len(empty) > 1 else ''} {', '.join(empty)} "
                      "without a text layer (scanned?) not read; they need OCR first", stacklevel=3)
    return build_document(path, _parts(paragraphs(drop_furniture(pages))))


register(Reader("PDF", (".pdf",), read_pdf, sniff=lambda head: head.lstrip()[:5] == b"%PDF-", binary=True))
