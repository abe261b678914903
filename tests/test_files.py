"""Atomic writes: a finished folder or file replaces the old one whole, and failures leave nothing behind."""

import json

import pytest

from qa._files import replace_folder, write_json


def test_a_folder_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "index"
    target.mkdir()
    (target / "old.txt").write_text("old")
    build = tmp_path / ".build"
    build.mkdir()
    (build / "new.txt").write_text("new")

    replace_folder(build, target)

    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no build or old copy left


def test_a_folder_is_published_where_there_was_none(tmp_path):
    build = tmp_path / ".build"
    build.mkdir()
    replace_folder(build, tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_json_is_written_and_replaced(tmp_path):
    path = tmp_path / "cache" / "data.json"
    write_json(path, {"党建": ["party building"]})
    write_json(path, {"a": [1]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": [1]}
    assert [p.name for p in path.parent.iterdir()] == ["data.json"]


def test_a_failed_json_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "data.json"
    write_json(path, {"kept": True})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


# -- a swap that cannot lose the folder ------------------------------------------------------------

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from qa import _files  # noqa: E402
from qa._files import build_folder, recover_folder  # noqa: E402


class Crash(BaseException):
    """The process dies here: nothing after it runs (not even except/finally clean-ups that touch the disk)."""


def _folder(path, content):
    path.mkdir()
    (path / "data.txt").write_text(content)
    (path / "sub").mkdir()
    (path / "sub" / "more.txt").write_text(content * 2)
    return path


def _content(path):
    assert (path / "sub" / "more.txt").read_text() == (path / "data.txt").read_text() * 2  # complete
    return (path / "data.txt").read_text()


def _findable(target):
    """Contents of every complete copy of target: the folder itself or an old copy beside it."""
    found = set()
    if target.exists():
        found.add(_content(target))
    for holder in target.parent.glob(f".{target.name}.old-*"):
        if (holder / target.name).is_dir():
            found.add(_content(holder / target.name))
    return found


def _crash_after(monkeypatch, replaces):
    """Kill the 'process' at the os.replace call number ``replaces`` (0-based), or in rmtree if
    every os.replace is let through; after the crash every disk operation raises too."""
    real_replace, real_rmtree = os.replace, _files.shutil.rmtree
    state = {"calls": 0, "dead": False}

    def replace(src, dst):
        if state["dead"] or state["calls"] == replaces:
            state["dead"] = True
            raise Crash
        state["calls"] += 1
        return real_replace(src, dst)

    def rmtree(path, ignore_errors=False):
        state["dead"] = True
        victims = list(os.scandir(path))
        if victims:  # delete part of it, then die
            real_rmtree(victims[0].path, ignore_errors=True)
        raise Crash

    monkeypatch.setattr(_files.os, "replace", replace)
    monkeypatch.setattr(_files.shutil, "rmtree", rmtree)
    return lambda: (monkeypatch.setattr(_files.os, "replace", real_replace),
                    monkeypatch.setattr(_files.shutil, "rmtree", real_rmtree))


@pytest.mark.parametrize("step", [0, 1, 2, 3])
def test_a_crash_at_any_step_of_a_swap_loses_nothing_and_recovery_cleans_up(tmp_path, monkeypatch, step):
    target = _folder(tmp_path / "index", "old")
    build = _folder(tmp_path / ".index.tmp-abc123", "new")
    revive = _crash_after(monkeypatch, step)  # step 3: both renames done, dies while deleting the old copy

    with pytest.raises(Crash):
        replace_folder(build, target)
    revive()

    assert _findable(target) & {"old", "new"}  # at the crash, a complete copy exists
    recover_folder(target, stale_after=0)
    assert _content(target) == ("new" if step >= 2 else "old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
    recover_folder(target, stale_after=0)  # idempotent
    assert _content(target) == ("new" if step >= 2 else "old")


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path):
    target = _folder(tmp_path / "index", "old")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / ".index.tmp-missing", target)
    assert _content(target) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_recovery_brings_back_the_newest_old_copy_when_the_folder_is_gone(tmp_path):
    for i, name in enumerate(["older", "newer"]):
        holder = tmp_path / f".index.old-{name}"
        holder.mkdir()
        _folder(holder / "index", name)
        os.utime(holder, (1_000_000 + i, 1_000_000 + i))
    recover_folder(tmp_path / "index")
    assert _content(tmp_path / "index") == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_half_deleted_old_copy_is_never_brought_back(tmp_path):
    holder = tmp_path / ".index.old-x"
    holder.mkdir()
    _folder(holder / ".trash-index", "partial")
    recover_folder(tmp_path / "index")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_live_build_is_left_alone_and_a_stale_one_removed(tmp_path):
    target = _folder(tmp_path / "index", "current")
    live = build_folder(target)
    (live / "half.bin").write_bytes(b"x")
    stale = build_folder(target)
    (stale / "dead.bin").write_bytes(b"y")
    long_ago = time.time() - _files.STALE_BUILD_SECONDS - 60
    for p in (stale, stale / "dead.bin"):
        os.utime(p, (long_ago, long_ago))
    other = tmp_path / ".other.tmp-zzz"  # another folder's build: not ours to judge
    other.mkdir()
    os.utime(other, (long_ago, long_ago))

    recover_folder(target)

    assert live.name.startswith(".index.tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index", live.name, other.name])
    assert _content(target) == "current"


def test_recovery_with_nothing_to_do_touches_nothing(tmp_path, monkeypatch):
    target = _folder(tmp_path / "index", "current")
    monkeypatch.setattr(_files, "_swap_lock", lambda parent: pytest.fail("locked with nothing to recover"))
    recover_folder(target)
    recover_folder(tmp_path / "missing")
    assert _content(target) == "current"


def test_recovery_waits_for_a_swap_in_progress_instead_of_undoing_it(tmp_path, monkeypatch):
    """A reader recovering while another thread is between the two renames must not restore the old copy."""
    target = _folder(tmp_path / "index", "old")
    build = _folder(tmp_path / ".index.tmp-new", "new")
    real_replace = os.replace
    between, go_on = threading.Event(), threading.Event()

    def slow_replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(os.path.join(".index.old-" + dst.parent.name.split(".old-")[-1], "index")):
            between.set()
            assert go_on.wait(10)

    monkeypatch.setattr(_files.os, "replace", slow_replace)
    swap = threading.Thread(target=replace_folder, args=(build, target))
    swap.start()
    assert between.wait(10)
    assert not target.exists()  # the instant between the renames
    recovering = threading.Thread(target=recover_folder, args=(target,))
    recovering.start()
    recovering.join(0.5)
    assert recovering.is_alive()  # blocked on the swap's lock
    go_on.set()
    swap.join(10)
    recovering.join(10)
    assert _content(target) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]
