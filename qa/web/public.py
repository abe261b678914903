"""What a web user may see: server paths taken out of messages and JSON.

Answers, passages, evaluation reports and error messages carry file paths
(a passage's ``source``, the index folder in ``index_status``, an upload's temp
path in an evaluation error). The server shows none of them: each known folder
becomes a short placeholder and each corpus file its bare name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..assistant import Assistant
from ..config import PROJECT_ROOT


class Scrubber:
    """Replaces known server paths in strings (and in JSON-like data) with what a user may see."""

    def __init__(self, replacements: dict[str, str]) -> None:
        # longest first, so a file inside a folder becomes its name rather than "<folder>/name"
        pairs = {k: v for k, v in replacements.items() if k and k not in (".", "/")}
        self._pairs = sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)

    @classmethod
    def for_assistant(cls, assistant: Assistant, extra: Iterable[str | Path] = ()) -> "Scrubber":
        """The scrubber of a server over ``assistant``: its corpus files, index, cache, model and temp folders."""
        s = assistant.settings
        table: dict[str, str] = {}
        for doc in assistant.documents:
            if doc.source and os.sep in doc.source:
                table.update(_variants(doc.source, Path(doc.source).name))
        if Path(s.model).expanduser().exists():  # a local model folder
            table.update(_variants(s.model, Path(s.model).name))
        table.update(_variants(s.index_dir, "<index>"))
        table.update(_variants(s.cache_dir, "<cache>"))
        table.update(_variants(PROJECT_ROOT, "<app>"))
        table.update(_variants(tempfile.gettempdir(), "<tmp>"))
        table.update(_variants(Path.home(), "~"))
        for path in extra:
            table.update(_variants(path, Path(path).name))
        return cls(table)

    def with_paths(self, paths: dict[str | Path, str]) -> "Scrubber":
        """A copy that also replaces each of ``paths`` (e.g. an upload's temp file) with its public name."""
        table = dict(self._pairs)
        for path, public in paths.items():
            table.update(_variants(path, public))
        return Scrubber(table)

    def text(self, value: str) -> str:
        """``value`` with every known server path replaced."""
        for private, public in self._pairs:
            if private in value:
                value = value.replace(private, public)
        return value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` (dicts, lists, strings) with every string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def _variants(path: str | Path, public: str) -> dict[str, str]:
    """The spellings of ``path`` a message may contain (as given, absolute, resolved) mapped to ``public``."""
    raw = str(path)
    out = {raw: public}
    try:
        p = Path(raw).expanduser()
        out[str(p)] = public
        out[str(p.absolute())] = public
        out[str(p.resolve())] = public
    except (OSError, RuntimeError, ValueError):
        pass
    return out
