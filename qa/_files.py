"""Atomic writes for what the assistant persists (indexes, the converted model, the dictionary cache).

Readers never see a half-written artefact: a folder is built aside and renamed into
place, a file is written to a temporary sibling and renamed over the old one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def replace_folder(build: Path, target: Path) -> None:
    """Publish the finished folder ``build`` as ``target``, moving any old copy aside first."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    try:
        os.replace(build, target)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically; on failure no temporary file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
