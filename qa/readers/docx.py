"""Word (.docx) through python-docx: paragraphs, headings, numbered lists and tables in order.

* **Headings** come from heading styles (``Heading 1``…, ``标题 1``…) or an outline
  level set on the paragraph or its style; plain paragraphs numbered ``一、``/``（一）``…
  (often bold, as many Chinese documents are written) are found by the heading grammar
  like in any text. The ``Title`` style, or a short centred or bold first paragraph, is
  the title.
* **Automatic numbering** (Word's numbered lists and numbered headings) is written
  out as the number Word shows, ``一、``, ``（二）``, ``3.``, ``①``, from the document's
  numbering definitions, so numbered headings reach the heading grammar too.
* **Tables** become one block each: a row per line, cells joined with `` | ``
  (a merged cell once), so a table is never scattered over passages.
* **Footnotes** follow the paragraph that cites them (a 【本文系…】 funding footnote
  becomes the funding note, as in the essay).

Table-of-contents entries (``TOC`` styles, or ``一、总体要求……3`` lines) are skipped:
they would read as headings. Each block keeps its paragraph number: the n-th non-empty paragraph, a table counting as one.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ..config import Settings
from ..corpus import Document
from ..errors import CorpusError
from . import Reader, register
from ._build import TOC_ENTRY, Part, build_document, one_line, tidy

_HEADING_STYLE = re.compile(r"(?:heading|标题)\s*(\d)", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CN_DIGITS = "零一二三四五六七八九"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_CHINESE_FORMATS = {"chineseCounting", "chineseCountingThousand", "ideographTraditional",
                    "chineseLegalSimplified", "ideographDigital", "taiwaneseCounting"}


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 105 → 一百零五 (as Word's chineseCounting shows them)."""
    if n <= 0:
        return str(n)
    if n < 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _CN_DIGITS[n // 10] + "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        tail = "" if not rest else ("零" + chinese_number(rest) if rest < 10 else
                                    (_CN_DIGITS[1] if rest < 20 else "") + chinese_number(rest))
        return _CN_DIGITS[n // 100] + "百" + tail
    return str(n)


def _roman(n: int) -> str:
    out = ""
    for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + numeral, n - value
    return out


def _format_number(n: int, fmt: str) -> str:
    if fmt in _CHINESE_FORMATS:
        return chinese_number(n)
    if fmt in ("upperLetter", "lowerLetter"):
        letter = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in ("upperRoman", "lowerRoman"):
        return _roman(n) if fmt == "upperRoman" else _roman(n).lower()
    if fmt == "decimalEnclosedCircle" or fmt == "decimalEnclosedCircleChinese":
        return _CIRCLED[n - 1] if 0 < n <= len(_CIRCLED) else str(n)
    if fmt == "none":
        return ""
    return str(n)


class _Numbering:
    """Word's automatic numbers: what each numbered paragraph shows, counted in document order."""

    def __init__(self, document) -> None:
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            root = None
        self._levels: dict[tuple[str, int], tuple[str, str, int]] = {}
        self._counters: dict[str, list[int | None]] = {}
        if root is None:
            return
        abstract = {a.get(f"{_W}abstractNumId"): a for a in root.iter(f"{_W}abstractNum")}
        for num in root.iter(f"{_W}num"):
            num_id = num.get(f"{_W}numId")
            ref = num.find(f"{_W}abstractNumId")
            definition = abstract.get(ref.get(f"{_W}val")) if ref is not None else None
            if definition is None:
                continue
            for lvl in definition.iter(f"{_W}lvl"):
                ilvl = int(lvl.get(f"{_W}ilvl", "0"))
                fmt = _val(lvl.find(f"{_W}numFmt")) or "decimal"
                text = _val(lvl.find(f"{_W}lvlText")) or ""
                start = int(_val(lvl.find(f"{_W}start")) or 1)
                self._levels[(num_id, ilvl)] = (fmt, text, start)

    def label(self, num_id: str, ilvl: int) -> str:
        """The number a paragraph of list ``num_id`` at level ``ilvl`` shows, counting it."""
        if (num_id, ilvl) not in self._levels or num_id == "0":
            return ""
        counters = self._counters.setdefault(num_id, [None] * 9)
        start = self._levels[(num_id, ilvl)][2]
        counters[ilvl] = start if counters[ilvl] is None else counters[ilvl] + 1
        for deeper in range(ilvl + 1, 9):
            counters[deeper] = None
        fmt, text, _ = self._levels[(num_id, ilvl)]
        if fmt == "bullet":
            return "• "

        def level_number(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            lvl_fmt, _, lvl_start = self._levels.get((num_id, k), ("decimal", "", 1))
            return _format_number(counters[k] if counters[k] is not None else lvl_start, lvl_fmt)

        return re.sub(r"%(\d)", level_number, text)


def _val(el) -> str | None:
    return None if el is None else el.get(f"{_W}val")


def _style_chain(style):
    while style is not None:
        yield style
        style = style.base_style


def _ppr_value(paragraph, style, tag: str):
    """A paragraph property from the paragraph itself or, failing that, its style chain."""
    holders = [paragraph._p.pPr] + [s.element.pPr for s in _style_chain(style)]
    for ppr in holders:
        if ppr is None:
            continue
        el = ppr.find(f"{_W}{tag}")
        if el is not None:
            return el
    return None


def _heading_level(paragraph, style) -> int | None:
    for s in _style_chain(style):
        m = _HEADING_STYLE.fullmatch(s.name or "")
        if m:
            return int(m.group(1))
    outline = _ppr_value(paragraph, style, "outlineLvl")
    if outline is not None and _val(outline) is not None and int(_val(outline)) < 9:
        return int(_val(outline)) + 1
    return None


def _is_toc(style) -> bool:
    return (style.name or "").lower().startswith("toc")


def _is_title(style) -> bool:
    return any((s.name or "").lower() in ("title", "标题") for s in _style_chain(style))


def _looks_like_title(paragraph, style) -> bool:
    """A short first paragraph set apart: centred, or bold throughout."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    text = paragraph.text.strip()
    if not text or len(text) > 60 or text.endswith(("。", ".", "：", ":")):
        return False
    align = paragraph.alignment
    if align is None:
        align = next((s.paragraph_format.alignment for s in _style_chain(style)
                      if s.paragraph_format.alignment is not None), None)
    runs = [r for r in paragraph.runs if r.text.strip()]
    bold = bool(runs) and all(r.bold or (r.bold is None and style.font.bold) for r in runs)
    return align == WD_ALIGN_PARAGRAPH.CENTER or bold


def _numbering_of(paragraph, style) -> tuple[str, int] | None:
    num_pr = _ppr_value(paragraph, style, "numPr")
    if num_pr is None:
        return None
    num_id = _val(num_pr.find(f"{_W}numId"))
    ilvl = _val(num_pr.find(f"{_W}ilvl"))
    return (num_id, int(ilvl or 0)) if num_id else None


def _table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(tidy(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _footnotes(document) -> dict[str, str]:
    """Footnote texts by id (separators aside), from the document's footnotes part if it has one."""
    from lxml import etree

    for rel in document.part.rels.values():
        if rel.reltype.endswith("/footnotes") and not rel.is_external:
            part = rel.target_part
            root = part.element if hasattr(part, "element") else etree.fromstring(part.blob)
            notes = {}
            for note in root.iter(f"{_W}footnote"):
                if note.get(f"{_W}type") in (None, "normal"):
                    text = tidy("".join(t.text or "" for t in note.iter(f"{_W}t")))
                    if text:
                        notes[note.get(f"{_W}id")] = text
            return notes
    return {}


def read_docx(path: Path, data: bytes, settings: Settings) -> Document:
    """A Word document as a document of paragraphs and tables, each knowing its paragraph number."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip, XML and package errors alike
        raise CorpusError(f"{path}: not a readable Word .docx file ({type(exc).__name__}: {exc})") from None
    numbering = _Numbering(document)
    footnotes = _footnotes(document)
    styles: dict[str | None, object] = {}  # python-docx looks a paragraph's style up anew each time: slow
    parts: list[Part] = []
    number = 0
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            text = _table_text(item)
            if text:
                number += 1
                parts.append(Part(text, kind="table", paragraph=number))
            continue
        text = item.text.strip()
        style_id = item._p.style
        if style_id not in styles:
            styles[style_id] = item.style
        style = styles[style_id]
        if _is_toc(style) or TOC_ENTRY.fullmatch(text):  # contents entries would read as headings
            continue
        num = _numbering_of(item, style)
        label = numbering.label(*num) if num else ""
        if not text:
            continue
        number += 1
        level = _heading_level(item, style)
        if _is_title(style) or (number == 1 and not num and level is None and _looks_like_title(item, style)):
            parts.append(Part(one_line(text), kind="title", paragraph=number))
        else:
            text = one_line(label + text) if level else tidy(label + text)
            parts.append(Part(text, paragraph=number, heading_level=level))
        for ref in item._p.iter(f"{_W}footnoteReference"):  # a footnote follows the paragraph citing it
            note = footnotes.pop(ref.get(f"{_W}id"), None)
            if note:
                parts.append(Part(note, paragraph=number))
    return build_document(path, parts)


def _is_docx(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and b"word/" in head


register(Reader("Word", (".docx",), read_docx, sniff=_is_docx, binary=True))
