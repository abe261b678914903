"""Load documents and clean them: the first stage of the data's path.

A :class:`Document` is the cleaned text of one file plus the *blocks* it is made
of: front matter (title, author), body, back matter (funding note, affiliation).
Scraped web pages (a ``标题 | … |`` header row, a ``范文 |`` marker, site furniture
after the body) are recognised and cleaned here, in code, never by hand.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

from .config import DEFAULT_CORPUS, Settings
from .errors import CorpusError

BlockKind = Literal["title", "author", "body", "funding", "affiliation"]

#: Suffixes read as documents when a folder is given.
TEXT_SUFFIXES = (".txt", ".md", ".markdown")

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


@dataclass(frozen=True)
class Document:
    """One cleaned document: its id, title, text and the blocks the text is made of."""

    doc_id: str
    title: str
    text: str
    source: str
    blocks: tuple[Block, ...] = field(default=())


def read_text_file(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 text file, or raise :class:`CorpusError` that names it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise CorpusError(f"{path}: {size:,} bytes is larger than the {max_bytes:,}-byte limit")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in data[:8192]:
        raise CorpusError(f"{path}: looks like a binary file, not UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8 and try again"
        ) from None
    if not text.strip():
        raise CorpusError(f"{path}: the file is empty")
    return text


def _doc_id(path: Path) -> str:
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
    """Read and clean one ``.txt``/``.md`` file."""
    settings = settings or Settings()
    path = Path(path)
    raw = read_text_file(path, settings.max_file_bytes).replace("\r\n", "\n").replace("\r", "\n")
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
    return Document(
        doc_id=_doc_id(path),
        title=title or path.stem,
        text=text,
        source=str(path),
        blocks=tuple(blocks),
    )


def document_from_text(text: str, doc_id: str, title: str = "", source: str = "") -> Document:
    """A document made from text already in memory (one body block, no cleaning)."""
    text = text.strip()
    if not text:
        raise CorpusError(f"{source or doc_id}: empty text")
    return Document(doc_id=doc_id, title=title or doc_id, text=text, source=source or doc_id,
                    blocks=(Block("body", 0, len(text)),))


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the list of document files, in a stable order."""
    files: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise CorpusError(f"{p}: folder has no {'/'.join(TEXT_SUFFIXES)} files")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise CorpusError(f"{p}: no such file or folder")
    if not files:
        raise CorpusError("no corpus files given")
    return files


def load_corpus(paths: Sequence[str | Path] | None = None, settings: Settings | None = None) -> list[Document]:
    """Load every document of a corpus (the default essay when ``paths`` is empty)."""
    files = corpus_files(paths) if paths else [DEFAULT_CORPUS]
    docs = [load_document(f, settings) for f in files]
    seen: dict[str, int] = {}
    unique: list[Document] = []
    for d in docs:  # two files called notes.txt in different folders get distinct ids
        n = seen.get(d.doc_id, 0)
        seen[d.doc_id] = n + 1
        unique.append(d if n == 0 else replace(d, doc_id=f"{d.doc_id}_{n + 1}"))
    return unique


def corpus_checksum(documents: Sequence[Document]) -> str:
    """One checksum over all documents' ids and texts (order matters)."""
    h = hashlib.sha256()
    for d in documents:
        h.update(d.doc_id.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()
