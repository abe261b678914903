"""Readers: one module per file format, each turning a file into a :class:`~qa.corpus.Document`.

A reader says which suffixes it takes and how to recognise its content; the registry
picks one per file. Content recognised by a binary format's signature wins over the
suffix (a PDF saved as ``report.txt`` is read as a PDF); text formats go by suffix, and by
content only when the suffix is unknown. A new format is one module that calls
:func:`register`, imported at the bottom of this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..corpus import Document
from ..errors import CorpusError

#: How much of a file's start is read to recognise its format.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reader:
    """One file format: its name, suffixes, how to recognise it and how to read it."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path, bytes, Settings], Document]
    """(path, the file's bytes, settings) → document; raises :class:`CorpusError` naming the file."""
    sniff: Callable[[bytes], bool] = lambda head: False
    """Whether the first :data:`HEAD_BYTES` look like this format."""
    binary: bool = False
    """A binary signature is decisive; a text format's sniff only decides when the suffix is unknown."""


_READERS: list[Reader] = []

#: Formats people often have that no reader takes, and what to do about them.
_NOT_READ: dict[str, str] = {
    ".doc": "Word 97-2003 .doc: save it as .docx",
    ".wps": "WPS document: save it as .docx",
    ".rtf": "RTF: save it as .docx",
    ".odt": "OpenDocument text: save it as .docx",
    ".xls": "spreadsheet: not read", ".xlsx": "spreadsheet: not read", ".csv": "spreadsheet: not read",
    ".ppt": "slides: not read", ".pptx": "slides: not read",
    ".png": "image: needs OCR first", ".jpg": "image: needs OCR first", ".jpeg": "image: needs OCR first",
    ".tif": "image: needs OCR first", ".tiff": "image: needs OCR first",
    ".zip": "archive: unpack it first", ".rar": "archive: unpack it first", ".7z": "archive: unpack it first",
}


def register(reader: Reader) -> Reader:
    """Add a reader to the registry (each format module calls this once)."""
    _READERS.append(reader)
    return reader


def readers() -> tuple[Reader, ...]:
    """Every registered reader, in registration order."""
    return tuple(_READERS)


def formats_text() -> str:
    """The supported formats for messages, e.g. ``text (.txt, .md), PDF (.pdf), …``."""
    return ", ".join(f"{r.name} ({', '.join(r.suffixes)})" for r in _READERS)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _pick(path: Path, head: bytes) -> Reader | None:
    suffix = path.suffix.lower()
    for r in _READERS:
        if r.binary and r.sniff(head):
            return r
    for r in _READERS:
        if suffix in r.suffixes:
            return r
    if suffix:
        return None
    return next((r for r in _READERS if r.sniff(head)), None)


def unsupported_reason(path: Path) -> str | None:
    """Why no reader takes this file (``None`` when one does)."""
    if _pick(path, _head(path)) is not None:
        return None
    return _NOT_READ.get(path.suffix.lower(), "not a supported format")


def reader_for(path: Path, head: bytes) -> Reader:
    """The reader for a file, from its start and its suffix; :class:`CorpusError` when there is none."""
    reader = _pick(path, head)
    if reader is None:
        why = _NOT_READ.get(path.suffix.lower(), "not a supported format")
        raise CorpusError(f"{path}: {why}; supported formats: {formats_text()}")
    return reader


def read_document(path: Path, settings: Settings) -> Document:
    """Read one file with the reader its content and suffix call for."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > settings.max_file_bytes:
        raise CorpusError(f"{path}: {size:,} bytes is larger than the {settings.max_file_bytes:,}-byte limit")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise CorpusError(f"{path}: the file is empty")
    return reader_for(path, data[:HEAD_BYTES]).read(path, data, settings)


from . import text, pdf, docx, html  # noqa: E402,F401  (each registers its reader)
