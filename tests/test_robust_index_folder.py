"""A read-only index folder: a current index there is used as it is (nothing rebuilt, nothing written); a
stale one is updated once into a copy under the cache folder, which later runs reuse. Fast lane.

Root ignores permission bits, so the read-only folder is simulated: :func:`qa.index.writable` says no and
every write the index and the assistant make there (manifest, lock, null profile) raises ``EACCES``, as
the operating system would; a snapshot of the folder checks nothing in it changed. One test also uses a
real ``chmod`` where that is effective (not root).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from qa import Assistant
from qa import assistant as assistant_module
from qa import index as index_module

NOTE_V1 = "一、总则\n\n第一条 经费由财政保障，专款专用。\n\n二、考核\n\n第二条 考核每年进行一次。\n"
NOTE_V2 = NOTE_V1 + "\n三、附则\n\n第三条 本办法自印发之日起施行。\n"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def read_only(monkeypatch):
    """Make the folders passed to the returned function read-only for qa (see the module docstring)."""
    roots: list[Path] = []

    def inside(path: Path) -> bool:
        return any(Path(path).resolve().is_relative_to(r) for r in roots)

    def refuse(path: Path) -> None:
        if inside(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    real_writable, real_write_json, real_lock = index_module.writable, index_module.write_json, \
        index_module.exclusive_lock

    def write_json(path, data, *args, **kwargs):
        refuse(path)
        return real_write_json(path, data, *args, **kwargs)

    def exclusive_lock(path, *args, **kwargs):
        refuse(path)
        return real_lock(path, *args, **kwargs)

    monkeypatch.setattr(index_module, "writable", lambda folder: not inside(folder) and real_writable(folder))
    monkeypatch.setattr(index_module, "write_json", write_json)
    monkeypatch.setattr(index_module, "exclusive_lock", exclusive_lock)
    monkeypatch.setattr(assistant_module, "write_json", write_json)
    return lambda folder: roots.append(Path(folder).resolve())


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "docs" / "note.txt"
    path.parent.mkdir()
    path.write_text(NOTE_V1, encoding="utf-8")
    return path


def test_writable_tries_a_file_in_the_folder_or_its_nearest_parent(tmp_path):
    assert index_module.writable(tmp_path)
    assert index_module.writable(tmp_path / "not" / "yet")  # created later, under a writable parent
    assert not list(tmp_path.iterdir())  # the probe leaves nothing behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: chmod is not effective")
def test_writable_is_false_for_a_chmod_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert not index_module.writable(folder) and not index_module.writable(folder / "index")
    finally:
        folder.chmod(0o755)


def test_a_current_index_in_a_read_only_folder_is_used_as_it_is(corpus, fake_settings, fake_embedder, read_only,
                                                                  monkeypatch, caplog):
    built = Assistant([corpus], fake_settings, embedder=fake_embedder)  # built while writable
    folder = built.index.folder
    before = snapshot(fake_settings.index_dir)
    read_only(fake_settings.index_dir)
    monkeypatch.setattr(index_module, "update_index", lambda *a, **k: pytest.fail("rebuilt a current index"))
    with caplog.at_level(logging.WARNING):
        again = Assistant([corpus], fake_settings, embedder=fake_embedder)
    assert again.index.folder == folder and again.index_status == f"loaded index from {folder}"
    assert snapshot(fake_settings.index_dir) == before  # nothing written, not even the null profile
    assert not caplog.records
    assert "经费由财政保障" in again.ask("经费怎么保障？", 1).hits[0].text


def test_a_stale_index_in_a_read_only_folder_is_updated_once_into_the_cache_folder(
        corpus, fake_settings, fake_embedder, read_only, monkeypatch, caplog):
    Assistant([corpus], fake_settings, embedder=fake_embedder)
    read_only(fake_settings.index_dir)
    before = snapshot(fake_settings.index_dir)
    corpus.write_text(NOTE_V2, encoding="utf-8")  # the stored index is now out of date

    with caplog.at_level(logging.WARNING, logger="qa.index"):
        first = Assistant([corpus], fake_settings, embedder=fake_embedder)
    fallback = first.index.folder
    assert fallback.is_relative_to(fake_settings.cache_dir) and fallback.is_dir()
    assert snapshot(fake_settings.index_dir) == before  # the read-only folder is untouched
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "read-only" in warnings[0] and str(fallback) in warnings[0]
    assert "read-only" in first.index_status
    assert "施行" in first.ask("这个办法什么时候施行？", 1).hits[0].text  # the new paragraph is indexed

    caplog.clear()
    monkeypatch.setattr(index_module, "update_index", lambda *a, **k: pytest.fail("rebuilt the fallback again"))
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        second = Assistant([corpus], fake_settings, embedder=fake_embedder)
    assert second.index.folder == fallback and second.index_status.startswith(f"loaded index from {fallback}")
    assert not caplog.records  # reused quietly
    assert snapshot(fake_settings.index_dir) == before


def test_an_index_folder_that_refuses_writes_midway_falls_back_too(corpus, fake_settings, fake_embedder,
                                                                    read_only, monkeypatch):
    """Writable by the probe, yet the update is refused (another owner's files): the copy is used."""
    Assistant([corpus], fake_settings, embedder=fake_embedder)
    read_only(fake_settings.index_dir)
    monkeypatch.setattr(index_module, "writable", lambda folder: True)
    corpus.write_text(NOTE_V2, encoding="utf-8")
    again = Assistant([corpus], fake_settings, embedder=fake_embedder)
    assert again.index.folder.is_relative_to(fake_settings.cache_dir)


def test_the_web_never_shows_the_fallback_path(corpus, fake_settings, fake_embedder, read_only):
    from qa.web.public import Scrubber

    Assistant([corpus], fake_settings, embedder=fake_embedder)
    read_only(fake_settings.index_dir)
    corpus.write_text(NOTE_V2, encoding="utf-8")
    again = Assistant([corpus], fake_settings, embedder=fake_embedder)
    shown = Scrubber.for_assistant(again).text(again.index_status)
    assert str(fake_settings.cache_dir) not in shown and str(fake_settings.index_dir) not in shown


def test_a_null_profile_missing_beside_a_read_only_index_is_kept_in_the_cache_folder(
        corpus, fake_settings, fake_embedder, read_only, monkeypatch):
    from qa.assistant import PROFILE_FILE

    built = Assistant([corpus], fake_settings, embedder=fake_embedder)
    (built.index.folder / PROFILE_FILE).unlink()
    read_only(fake_settings.index_dir)
    first = Assistant([corpus], fake_settings, embedder=fake_embedder)  # fits the profile, stores it aside
    assert (index_module.fallback_folder(first.index.folder, fake_settings) / PROFILE_FILE).is_file()
    monkeypatch.setattr(fake_embedder, "encode_questions", lambda qs: pytest.fail("fitted the profile again"))
    second = Assistant([corpus], fake_settings, embedder=fake_embedder)
    assert second.profile.to_dict() == first.profile.to_dict()
    assert not (first.index.folder / PROFILE_FILE).exists()
