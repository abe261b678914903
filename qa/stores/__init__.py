"""Optional stores and ingestion for corpora past one machine (issue 15): Milvus and Ray Data.

The embedded FAISS folder (:mod:`qa.index`) stays the default; nothing here is imported
unless ``Settings.store == "milvus"`` or ``qa index --ray`` asks for it, and the engines
come from the ``scale`` extra (``pip install -e '.[scale]'``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import QAError

INSTALL_HINT = "install the scale extra: pip install -e '.[scale]'"


class ScaleExtraMissing(QAError, ImportError):
    """pymilvus / milvus-lite / ray are not installed."""


class StoreError(QAError):
    """A Milvus store that cannot be reached, opened or written; the message says what to do."""


def require(module: str) -> ModuleType:
    """Import an engine of the scale extra, or fail with a one-line hint."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ScaleExtraMissing(f"{module} is not installed; {INSTALL_HINT}") from None


def reason_of(exc: BaseException, *, last: bool = False, limit: int = 200) -> str:
    """One line of an engine's exception for a one-line error: its first line (Milvus keeps it in
    ``message``), or with ``last`` its last (a Ray task's error ends its remote traceback with it);
    the exception's type when it says nothing."""
    lines = [line for line in str(getattr(exc, "message", "") or exc).splitlines() if line.strip()]
    return (lines[-1] if last else lines[0]).strip()[:limit] if lines else type(exc).__name__
