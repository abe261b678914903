"""Atomic writes for what the assistant persists (indexes, the converted model, the dictionary cache).

Readers never see a half-written artefact: a folder is built aside and renamed into
place, a file is written to a temporary sibling and renamed over the old one. A
crash half-way through a folder swap loses nothing: :func:`recover_folder` puts
the old copy back and cleans what dead builds left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


#: A build folder (``.NAME.tmp-*``) untouched for this long belongs to no live process.
STALE_BUILD_SECONDS = 15 * 60
#: Without a lock (no ``fcntl``), an old copy this old is no longer part of a swap in progress.
UNLOCKED_OLD_SECONDS = 60


def _old_prefix(target: Path) -> str:
    return f".{target.name}.old-"


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def build_folder(target: Path) -> Path:
    """A new empty folder ``.NAME.tmp-*`` beside ``target`` to build it in (cleaned by
    :func:`recover_folder` once stale, if its builder dies)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))


@contextmanager
def _swap_lock(parent: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the folder ``parent`` (flock of the directory itself: no lock file
    to leave behind; released by the kernel if the process dies). Yields whether it is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # releases the lock


def _discard(holder: Path) -> None:
    """Delete an old-copy holder; its content is first renamed away from the name
    :func:`recover_folder` restores, so a half-deleted copy is never brought back."""
    for child in list(holder.iterdir()) if holder.is_dir() else []:
        if not child.name.startswith(".trash"):
            try:
                os.replace(child, holder / f".trash-{child.name}")
            except OSError:
                pass
    shutil.rmtree(holder, ignore_errors=True)


def replace_folder(build: Path, target: Path) -> None:
    """Publish the finished folder ``build`` as ``target``, replacing any old copy.

    Two renames under a lock on the parent folder: the old copy into a holder
    ``.NAME.old-*``, then ``build`` into place. If the second fails the old copy
    is put back; if the process dies between them, :func:`recover_folder` puts
    it back. So at every instant the old or the new folder is complete, at
    ``target`` or in its holder.
    """
    holder: Path | None = None
    with _swap_lock(target.parent):
        if target.exists() or target.is_symlink():
            holder = Path(tempfile.mkdtemp(prefix=_old_prefix(target), dir=target.parent))
            os.replace(target, holder / target.name)
        try:
            os.replace(build, target)
        except BaseException:
            if holder is not None and not target.exists():
                os.replace(holder / target.name, target)
                holder.rmdir()
            raise
    if holder is not None:
        _discard(holder)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _age_seconds(folder: Path) -> float:
    """Seconds since anything in ``folder`` (or the folder itself) was last modified."""
    try:
        inside = list(folder.rglob("*"))
    except OSError:
        inside = []
    return time.time() - max(_mtime(p) for p in (folder, *inside))


def recover_folder(target: Path, *, stale_after: float = STALE_BUILD_SECONDS) -> None:
    """Undo what a crashed :func:`replace_folder` or build left beside ``target``.

    If ``target`` is missing, the newest complete old copy is moved back; other old
    copies are deleted, and build folders ``.NAME.tmp-*`` untouched for
    ``stale_after`` seconds too (younger ones may belong to a live build).
    Idempotent and cheap when there is nothing to do (one listing of the parent):
    call it before reading ``target``.
    """
    target = Path(target)
    old_prefix, tmp_prefix = _old_prefix(target), _tmp_prefix(target)

    def leftovers() -> tuple[list[Path], list[Path]]:
        try:
            names = [e.name for e in os.scandir(target.parent) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return [], []
        return ([target.parent / n for n in names if n.startswith(old_prefix)],
                [target.parent / n for n in names if n.startswith(tmp_prefix)])

    olds, tmps = leftovers()
    if not olds and not tmps:
        return
    with _swap_lock(target.parent) as locked:
        olds, tmps = leftovers()  # again, now that no swap is half-way
        if not locked:  # a swap may be half-way: leave recent old copies to it
            olds = [h for h in olds if _age_seconds(h) > UNLOCKED_OLD_SECONDS]
        olds.sort(key=_mtime, reverse=True)
        if olds and not (target.exists() or target.is_symlink()):
            for holder in olds:
                copy = holder / target.name
                if copy.is_dir():
                    try:
                        os.replace(copy, target)
                        break
                    except OSError:
                        continue
        for holder in olds:
            _discard(holder)
    for tmp in tmps:
        if _age_seconds(tmp) > stale_after:
            shutil.rmtree(tmp, ignore_errors=True)


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


@contextmanager
def exclusive_lock(lock_file: Path, wait_s: float, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (one writer at a time, across processes); a second
    holder waits up to ``wait_s`` seconds, then ``busy()`` is raised. The kernel releases it if we die."""
    import errno
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as f:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
