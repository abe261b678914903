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
