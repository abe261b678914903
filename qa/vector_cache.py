"""Passage vectors by content key in SQLite, each row verified when it is read back.

A row holds the raw float32 bytes of one vector (never a pickle) and a checksum
of its key and bytes. A row that fails the checksum, or holds NaN/inf, is deleted
and reported missing, so that the caller embeds that text again: an altered cache
can cost time, never a wrong ranking. The cache is best effort: a locked or
unwritable database means cache misses, and an unreadable file is replaced.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["SCHEMA_VERSION", "VectorCache"]

logger = logging.getLogger(__name__)

#: ``PRAGMA user_version`` of a cache with checksums; older files (version 0, no checksum column) are emptied.
SCHEMA_VERSION = 2
_CHUNK = 500  # keys per SELECT/DELETE (well under SQLite's variable limit)
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _checksum(key: str, blob: bytes) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass") + b"\0" + blob, digest_size=16).digest()


class VectorCache:
    """Vectors by content key: ``get(keys, dimension)`` returns the verified ones, ``put`` stores more."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    # -- the database ----------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)  # transactions made explicit
        try:
            if con.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                con.execute("BEGIN IMMEDIATE")
                if con.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:  # not upgraded meanwhile
                    # Vectors stored without checksums cannot be verified: they are dropped and embedded again.
                    con.execute("DROP TABLE IF EXISTS vectors")
                    con.execute("CREATE TABLE vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL, "
                                "checksum BLOB NOT NULL)")
                    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                con.execute("COMMIT")
        except BaseException:
            con.close()
            raise
        return con

    def _connect(self) -> sqlite3.Connection | None:
        """A connection, or None when the cache cannot be used now (locked, unwritable)."""
        try:
            return self._open()
        except sqlite3.OperationalError:
            return None
        except sqlite3.DatabaseError as exc:  # not a database, or malformed: start afresh
            self._replace_unreadable(exc)
        except OSError:
            return None
        try:
            return self._open()
        except (sqlite3.Error, OSError):
            return None

    def _replace_unreadable(self, exc: Exception) -> None:
        logger.warning("embedding cache %s is unreadable (%s); starting a new one, vectors will be embedded again",
                       self.path, exc)
        for suffix in ("", *_SIDE_FILES):
            try:
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            except OSError:
                pass

    # -- reading and writing ----------------------------------------------------------
    def get(self, keys: Sequence[str], dimension: int) -> dict[str, np.ndarray]:
        """The stored vectors of ``keys`` that pass their checksum, are finite and have ``dimension``.

        Rows that fail are deleted (one warning line per call says how many), so their
        texts are embedded again and stored anew.
        """
        out: dict[str, np.ndarray] = {}
        bad: list[str] = []
        with self._lock:
            con = self._connect()
            if con is None:
                return out
            try:
                for start in range(0, len(keys), _CHUNK):
                    chunk = list(keys[start:start + _CHUNK])
                    q = f"SELECT key, vector, checksum FROM vectors WHERE key IN ({','.join('?' * len(chunk))})"
                    for key, blob, checksum in con.execute(q, chunk):
                        blob = bytes(blob)
                        if checksum != _checksum(key, blob) or len(blob) % 4:
                            bad.append(key)
                            continue
                        v = np.frombuffer(blob, dtype=np.float32)
                        if v.shape != (dimension,):
                            continue  # another dimension: a miss, not damage
                        if not np.isfinite(v).all():
                            bad.append(key)
                            continue
                        out[key] = v
                if bad:
                    try:
                        self._delete(con, bad)
                    except sqlite3.OperationalError:
                        pass  # locked: the rows stay until put() replaces them with fresh vectors
            except sqlite3.OperationalError:
                return {}
            except sqlite3.DatabaseError as exc:
                con.close()
                con = None
                self._replace_unreadable(exc)
                return {}
            finally:
                if con is not None:
                    con.close()
        if bad:
            logger.warning("embedding cache %s: %d stored vector(s) failed their checksum or were not finite; "
                           "dropped, they will be embedded again", self.path, len(bad))
        return out

    @staticmethod
    def _delete(con: sqlite3.Connection, keys: list[str]) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                con.execute(f"DELETE FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def put(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors with their checksums; non-finite vectors are never stored."""
        rows = []
        for key, vector in items.items():
            blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            if np.isfinite(np.frombuffer(blob, dtype=np.float32)).all():
                rows.append((key, blob, _checksum(key, blob)))
        if len(rows) < len(items):
            logger.warning("embedding cache %s: %d vector(s) with NaN or inf not stored", self.path,
                           len(items) - len(rows))
        if not rows:
            return
        with self._lock:
            con = self._connect()
            if con is None:
                return
            try:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
                con.execute("COMMIT")
            except sqlite3.Error:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            finally:
                con.close()
