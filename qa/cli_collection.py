"""``qa add``, ``qa remove``, ``qa list``: manage a collection (:mod:`qa.collection`) from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable

from .config import Settings
from .inputs import terminal_safe

if TYPE_CHECKING:
    from .collection import Collection, DocumentRow

SettingsFn = Callable[[argparse.Namespace], Settings]


def _print(text: object) -> None:
    print(terminal_safe(str(text)))


def _named(args: argparse.Namespace, settings_fn: SettingsFn) -> Collection:
    """The collection named by --collection; ``default`` when none is named."""
    from .collection import DEFAULT_NAME, Collection

    return Collection(args.collection or DEFAULT_NAME, settings_fn(args))


def cmd_add(args: argparse.Namespace, settings_fn: SettingsFn) -> int:
    """``qa add PATH… [--collection NAME]``: copy documents into a collection and index them."""
    import warnings

    from .collection import change_lines
    from .corpus import UnsupportedFilesWarning
    from .index import ConsoleProgress

    collection = _named(args, settings_fn)
    progress = ConsoleProgress()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnsupportedFilesWarning)
            changes = collection.add(args.paths, progress=progress)
    finally:
        progress.close()
    for w in caught:
        print(terminal_safe(f"qa: warning: {w.message}"), file=sys.stderr)
    _print(f"collection {collection.name}:")
    for line in change_lines(changes):
        _print(f"  {line}")
    return 0


def cmd_remove(args: argparse.Namespace, settings_fn: SettingsFn) -> int:
    """``qa remove DOC… [--collection NAME]``: remove documents (file name or document id) from a collection."""
    from .collection import change_lines

    collection = _named(args, settings_fn)
    changes = collection.remove(args.docs)
    _print(f"collection {collection.name}:")
    for line in change_lines(changes):
        _print(f"  {line}")
    return 0


def cmd_list(args: argparse.Namespace, settings_fn: SettingsFn) -> int:
    """``qa list [--collection NAME] [--json]``: the documents of a collection (default: the default one,
    else the bundled essay)."""
    import json
    import time

    from .collection import DEFAULT_NAME, collection_names, resolve

    collection = resolve(args.collection, settings_fn(args))
    name = collection.name if collection else DEFAULT_NAME
    rows = collection.list() if collection else _essay_rows(args, settings_fn)
    if args.json:
        _print(json.dumps({"collection": name, "read_only": collection is None,
                           "documents": [r.to_dict() for r in rows]}, ensure_ascii=False, indent=2))
        return 0
    others = [n for n in collection_names(settings_fn(args)) if n != name]
    _print(f"collection {name}" + (" (the bundled essay; `qa add` makes it a collection you can change)"
                                   if collection is None else "") + f": {len(rows)} document(s)")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.indexed_at)) if r.indexed_at else "not indexed"
        _print(f"  {r.name}  [{r.doc_id}]  {r.format}, {r.passages} passages, {r.size:,} bytes, indexed {when}")
        for note in r.warnings:
            _print(f"    warning: {note}")
    if others:
        _print(f"other collections: {', '.join(others)}")
    return 0


def _essay_rows(args: argparse.Namespace, settings_fn: SettingsFn) -> list[DocumentRow]:
    """The bundled essay as a list row (read from the file; no model needed)."""
    from .collection import DocumentRow
    from .config import DEFAULT_CORPUS
    from .corpus import load_document
    from .passages import split_corpus

    settings = settings_fn(args)
    doc = load_document(DEFAULT_CORPUS, settings)
    return [DocumentRow(name=DEFAULT_CORPUS.name, doc_id=doc.doc_id, title=doc.title, format="text",
                        passages=len(split_corpus([doc], settings)), size=DEFAULT_CORPUS.stat().st_size,
                        indexed_at=None, warnings=[])]


def register(sub: argparse._SubParsersAction, add_collection: Callable[[argparse.ArgumentParser], None],
             add_model: Callable[[argparse.ArgumentParser], None], settings_fn: SettingsFn) -> None:
    """Add the ``add``, ``remove`` and ``list`` commands; ``settings_fn`` is the CLI's settings builder."""
    add = sub.add_parser("add", help="add documents to a collection (copied, then indexed)",
                         description="Copy files (or the files of folders) into a collection and index them. "
                                     "Each file is read first: one that cannot be read is refused and nothing is "
                                     "copied. A file with the name of one already there replaces it. The first "
                                     "add to the collection 'default' starts it with the bundled essay.")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add_collection(add)
    add_model(add)
    add.set_defaults(func=lambda a: cmd_add(a, settings_fn))

    remove = sub.add_parser("remove", help="remove documents from a collection")
    remove.add_argument("docs", nargs="+", metavar="DOC", help="file name or document id (see qa list)")
    add_collection(remove)
    add_model(remove)
    remove.set_defaults(func=lambda a: cmd_remove(a, settings_fn))

    listing = sub.add_parser("list", help="list the documents of a collection")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    add_collection(listing)
    add_model(listing)
    listing.set_defaults(func=lambda a: cmd_list(a, settings_fn))
