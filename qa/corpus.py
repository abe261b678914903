"""Load documents and clean them: the first stage of the data's path.

A :class:`Document` is the cleaned text of one file plus the *blocks* it is made
of: front matter (title, author), body, tables, back matter (funding note,
affiliation), each block knowing the page (PDF) or paragraph (Word) it came from.
Each file format has its reader in :mod:`qa.readers`; this module holds what they
share, the corpus-level loading (folders, unsupported files) and the cleaner of
scraped web pages saved as text (a ``标题 | … |`` header row, a ``范文 |`` marker,
site furniture after the body), done in code, never by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

from .config import DEFAULT_CORPUS, Settings
from .errors import CorpusError

BlockKind = Literal["title", "author", "body", "table", "funding", "affiliation"]

#: Labels shown as the heading path of front/back-matter passages.
BLOCK_LABELS: dict[str, str] = {
    "title": "标题 Title",
    "author": "作者 Author",
    "funding": "基金项目 Funding",
    "affiliation": "作者单位 Affiliation",
}

_PAGE_TITLE_ROW = re.compile(r"^\s*标题\s*\|\s*(?P<title>[^|\n]+?)\s*\|\s*$", re.M)
_PAGE_BODY_MARKER = re.compile(r"^\s*(?:范文|正文|内容|全文)\s*\|\s*", re.M)
#: Where a scraped page's body ends: the closing ``|`` of its table cell.
_PAGE_BODY_END = re.compile(r"\s*\|\s*(?:\n|$)")
_AUTHOR_LEAD = re.compile(r"^(?P<author>[\u4e00-\u9fff·]{2,4}(?:[、,，][\u4e00-\u9fff·]{2,4}){0,4})\s+")
_FUNDING = re.compile(r"[【\[]\s*(?:本文系|本文为|基金项目|本研究)[^】\]]*[】\]]")
_AFFILIATION = re.compile(r"[（(]\s*作者单位\s*[:：][^）)]*[）)]")


@dataclass(frozen=True)
class Block:
    """A span of a document's cleaned text and what it is."""

    kind: BlockKind
    start: int
    end: int
    page: int | None = None
    """1-based page of a PDF the block starts on."""
    paragraph: int | None = None
    """1-based number of a Word document's paragraph (non-empty ones; a table counts as one)."""


@dataclass(frozen=True)
class Document:
    """One cleaned document: its id, title, text and the blocks the text is made of."""

    doc_id: str
    title: str
    text: str
    source: str
    blocks: tuple[Block, ...] = field(default=())


_AUTHOR_LINE = re.compile(r"[\u4e00-\u9fff·]{2,4}(?:\s*[、,，\s]\s*[\u4e00-\u9fff·]{2,4}){0,4}")
#: Short lines right after a title that are section names, not authors.
_NOT_AUTHORS = frozenset("前言 引言 摘要 目录 总则 附则 序言 导言 结语 附件 通知 说明 概述 背景".split())


def matter_kind(paragraph: str, after_title: bool = False) -> BlockKind | None:
    """What a whole paragraph of a structured file (Word, PDF, web page) is when it is not body text.

    ``author`` for names right after the title, ``funding`` for a 【本文系…】 note,
    ``affiliation`` for (作者单位:…); ``None`` for body text.
    """
    para = paragraph.strip()
    if after_title and _AUTHOR_LINE.fullmatch(para) and para not in _NOT_AUTHORS:
        return "author"
    if _FUNDING.fullmatch(para):
        return "funding"
    if _AFFILIATION.fullmatch(para):
        return "affiliation"
    return None


def doc_id_of(path: Path) -> str:
    """A document id from a file name: its stem with anything but letters, digits, ``_``, ``-`` replaced."""
    return re.sub(r"[^\w\-]+", "_", path.stem).strip("_") or "document"


def clean_page(raw: str) -> tuple[str, list[tuple[BlockKind, str]]]:
    """Split a scraped page into its title and ordered blocks, dropping site furniture.

    Pages without the scraped table shape come back as one body block, with the
    first short line as title when there is one.
    """
    title_match = _PAGE_TITLE_ROW.search(raw)
    body_match = _PAGE_BODY_MARKER.search(raw)
    if body_match is None:
        return _plain_title(raw), [("body", raw.strip())]

    title = title_match.group("title").strip() if title_match else ""
    rest = raw[body_match.end():]
    end = _PAGE_BODY_END.search(rest)
    body = (rest[: end.start()] if end else rest).strip()

    blocks: list[tuple[BlockKind, str]] = []
    if title:
        blocks.append(("title", title))
    lead = _AUTHOR_LEAD.match(body)
    if lead:
        blocks.append(("author", lead.group("author")))
        body = body[lead.end():]
    back: list[tuple[BlockKind, str]] = []
    for kind, pattern in (("funding", _FUNDING), ("affiliation", _AFFILIATION)):
        for m in pattern.finditer(body):
            back.append((kind, m.group(0)))
        body = pattern.sub(" ", body)
    blocks.append(("body", re.sub(r"[ \t]{2,}", " ", body).strip()))
    blocks.extend(back)
    return title, blocks


def _plain_title(raw: str) -> str:
    for line in raw.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= 60 else ""
    return ""


def load_document(path: str | Path, settings: Settings | None = None) -> Document:
    """Read and clean one file of any supported format (see :mod:`qa.readers`)."""
    from . import readers  # the readers build on this module's Document

    return readers.read_document(Path(path), settings or Settings())


def document_from_text(text: str, doc_id: str, title: str = "", source: str = "") -> Document:
    """A document made from text already in memory (one body block, no cleaning)."""
    text = text.strip()
    if not text:
        raise CorpusError(f"{source or doc_id}: empty text")
    return Document(doc_id=doc_id, title=title or doc_id, text=text, source=source or doc_id,
                    blocks=(Block("body", 0, len(text)),))


class UnsupportedFilesWarning(UserWarning):
    """Files of a folder that were not read, listed by name with the reason."""


def scan_corpus(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders into (document files in a stable order, unsupported files with why).

    A file named on its own must be readable (else :class:`CorpusError`); a folder's files
    that no reader takes are returned with the reason, for the caller to list. Hidden files
    and folders (``.git``, ``.DS_Store``) and Office lock files (``~$…``) are not documents.
    """
    from . import readers

    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found, unsupported = [], []
            for f in _walk(p):
                reason = readers.unsupported_reason(f)
                (unsupported.append((f, reason)) if reason else found.append(f))
            if not found:
                listed = "; ".join(f"{f.name} ({why})" for f, why in unsupported[:5])
                raise CorpusError(f"{p}: folder has no supported documents ({readers.formats_text()})"
                                  + (f"; found {listed}" if listed else ""))
            files.extend(found)
            skipped.extend(unsupported)
        elif p.exists():
            reason = readers.unsupported_reason(p)
            if reason:
                raise CorpusError(f"{p}: {reason}; supported formats: {readers.formats_text()}")
            files.append(p)
        else:
            raise CorpusError(f"{p}: no such file or folder")
    if not files:
        raise CorpusError("no corpus files given")
    return files, skipped


def _walk(folder: Path) -> list[Path]:
    def fail(exc: OSError) -> None:
        raise CorpusError(f"{exc.filename or folder}: cannot read the folder ({exc.strerror or exc})")

    out = []
    for root, dirs, names in os.walk(folder, onerror=fail):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / n for n in names if not n.startswith((".", "~$")))
    return sorted(out)


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """The document files of files and folders; a folder's unsupported files are listed in one warning."""
    files, skipped = scan_corpus(paths)
    if skipped:
        warnings.warn(unsupported_message(skipped), UnsupportedFilesWarning, stacklevel=2)
    return files


def unsupported_message(skipped: Sequence[tuple[Path, str]]) -> str:
    """One line naming every file not read and why."""
    listed = "; ".join(f"{f} ({why})" for f, why in skipped)
    return f"not read, {len(skipped)} unsupported file{'s' if len(skipped) > 1 else ''}: {listed}"


def load_corpus(paths: Sequence[str | Path] | None = None, settings: Settings | None = None) -> list[Document]:
    """Load every document of a corpus (the default essay when ``paths`` is empty).

    A folder's files in formats no reader takes are listed in one
    :class:`UnsupportedFilesWarning`, never skipped silently.
    """
    files = corpus_files(paths) if paths else [DEFAULT_CORPUS]
    docs = [load_document(f, settings) for f in files]
    return [d if i == d.doc_id else replace(d, doc_id=i) for d, i in zip(docs, distinct_ids([d.doc_id for d in docs]))]


def distinct_ids(doc_ids: Sequence[str]) -> list[str]:
    """The documents' ids made distinct in corpus order: two files called notes.txt in different
    folders are ``notes`` and ``notes_2``."""
    seen: dict[str, int] = {}
    out = []
    for doc_id in doc_ids:
        n = seen.get(doc_id, 0)
        seen[doc_id] = n + 1
        out.append(doc_id if n == 0 else f"{doc_id}_{n + 1}")
    return out


def corpus_checksum(documents: Sequence[Document]) -> str:
    """One checksum over all documents' ids and texts (order matters)."""
    h = hashlib.sha256()
    for d in documents:
        h.update(d.doc_id.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()
