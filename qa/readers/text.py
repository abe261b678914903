"""Plain text and Markdown (.txt, .md) in the encodings Chinese files come in.

UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read directly; UTF-16
without BOM is recognised by its zero bytes; anything else is detected with
charset-normalizer, falling back to GB18030 (a superset of GBK and GB2312) for
files too short to detect. Text is then cleaned as before: a scraped web page
saved as text loses its site furniture (:func:`qa.corpus.clean_page`).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..config import Settings
from ..corpus import Block, Document, clean_page, doc_id_of
from ..errors import CorpusError
from . import Reader, register

SUFFIXES = (".txt", ".md", ".markdown")

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Signatures of binary files people mistake for text, and what they are.
_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive (or an Office file)"), (b"%PDF", "a PDF"), (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"), (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls)"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
#: Below this many bytes charset detection guesses wildly; GB18030 is tried instead.
_DETECT_MIN_BYTES = 200


def _plausible(text: str) -> bool:
    """Decoded text that reads as text: hardly any control characters."""
    return bool(text.strip()) and len(_CONTROL.findall(text)) <= max(1, len(text) // 200)


def decode(data: bytes, name: str | Path) -> tuple[str, str]:
    """(text, encoding) of a text file's bytes; :class:`CorpusError` for binary or undecodable data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    try:
        text = data.decode("utf-8")
        if _plausible(text):
            return text, "utf-8"
    except UnicodeDecodeError:
        pass
    kind = next((what for sig, what in _MAGIC if data.startswith(sig)), None)
    if kind:
        raise CorpusError(f"{name}: looks like {kind}, not text (binary)")
    if data[:4096].count(0):
        even, odd = data[:4096:2].count(0), data[1:4096:2].count(0)
        encoding = "utf-16-le" if odd > even else "utf-16-be"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            text = ""
        if _plausible(text):
            return text, encoding
        raise CorpusError(f"{name}: looks like a binary file, not text")
    if len(data) >= _DETECT_MIN_BYTES:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and _plausible(str(best)):
            return str(best), best.encoding
    try:
        text = data.decode("gb18030")
        if _plausible(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    raise CorpusError(f"{name}: not text in a known encoding (tried UTF-8, UTF-16, GBK/GB18030 and detection); "
                      "save it as UTF-8 and try again")


def read_text(path: Path, data: bytes, settings: Settings) -> Document:
    """A text file as a document: decoded, a scraped page cleaned, the rest one body block."""
    raw = decode(data, path)[0].replace("\r\n", "\n").replace("\r", "\n")
    if not raw.strip():
        raise CorpusError(f"{path}: the file is empty")
    title, parts = clean_page(raw)
    text_parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for kind, part in parts:
        if not part:
            continue
        if text_parts:
            text_parts.append("\n\n")
            pos += 2
        blocks.append(Block(kind, pos, pos + len(part)))
        text_parts.append(part)
        pos += len(part)
    text = "".join(text_parts)
    if not text.strip():
        raise CorpusError(f"{path}: no text left after cleaning")
    return Document(doc_id=doc_id_of(path), title=title or path.stem, text=text, source=str(path),
                    blocks=tuple(blocks))


register(Reader("text", SUFFIXES, read_text))
