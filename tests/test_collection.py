"""Collections (qa.collection) and their commands qa add / remove / list, with the fake embedder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from qa.collection import Collection, CollectionError, check_name, resolve
from qa.errors import CorpusError

FACT = "一、项目概况\n\n蓝鲸计划的年度预算是三百万元，由青松办公室负责执行。\n"
QUESTION = "蓝鲸计划的年度预算是多少？"


def _write(folder: Path, name: str, text: str = FACT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _top_sources(assistant, question: str = QUESTION, k: int = 3) -> list[str]:
    return [Path(h.source).name for h in assistant.ask(question, k).hits]


# -- the module ------------------------------------------------------------------------------------------------

def test_added_file_is_copied_indexed_and_listed(fake_settings, fake_embedder, tmp_path):
    src = _write(tmp_path / "in", "蓝鲸.txt")
    c = Collection("notes", fake_settings, embedder=fake_embedder)
    changes = c.add([src])
    assert [Path(k).name for k in changes.added] == ["蓝鲸.txt"]
    src.unlink()  # the collection keeps its own copy
    [row] = c.list()
    assert (row.name, row.format, row.doc_id) == ("蓝鲸.txt", "text", "蓝鲸")
    assert row.passages >= 1 and row.size == len(FACT.encode()) and row.indexed_at and row.warnings == []
    assert _top_sources(c.assistant(), k=1) == ["蓝鲸.txt"]


def test_a_file_that_cannot_be_read_is_refused_before_anything_is_copied(fake_settings, fake_embedder, tmp_path):
    c = Collection("notes", fake_settings, embedder=fake_embedder)
    c.add([_write(tmp_path, "good.txt")])
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\nnot really a pdf")
    with pytest.raises(CorpusError, match="broken.pdf"):
        c.add([_write(tmp_path, "other.txt", "另一份文件的内容。"), bad])
    assert [r.name for r in c.list()] == ["good.txt"], "neither file of the refused call was added"


def test_unsupported_files_are_named(fake_settings, fake_embedder, tmp_path):
    c = Collection("notes", fake_settings, embedder=fake_embedder)
    sheet = tmp_path / "table.xlsx"
    sheet.write_bytes(b"PK\x03\x04 spreadsheet")
    with pytest.raises(CorpusError, match="supported formats"):
        c.add([sheet])
    folder = tmp_path / "folder"
    _write(folder, "a.txt")
    (folder / "b.xlsx").write_bytes(b"PK\x03\x04")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.add([folder])
    assert any("b.xlsx" in str(w.message) for w in caught)
    assert [r.name for r in c.list()] == ["a.txt"]


def test_same_name_replaces_and_clashing_ids_get_distinct_names(fake_settings, fake_embedder, tmp_path):
    c = Collection("notes", fake_settings, embedder=fake_embedder)
    c.add([_write(tmp_path / "v1", "a.txt", "第一版的内容。")])
    changes = c.add([_write(tmp_path / "v2", "a.txt", "第二版的内容，完全不同。")])
    assert [Path(k).name for k in changes.updated] == ["a.txt"] and not changes.added
    assert "第二版" in (c.files / "a.txt").read_text(encoding="utf-8")
    changes = c.add([_write(tmp_path, "a.md", "同名不同格式的文件。")])
    assert [Path(k).name for k in changes.added] == ["a-2.md"]
    assert sorted(r.doc_id for r in c.list()) == ["a", "a-2"]
    unchanged = c.add([c.files / "a.txt"])
    assert not unchanged.any


def test_remove_by_name_or_id_drops_the_document_from_answers(fake_settings, fake_embedder, tmp_path):
    c = Collection("notes", fake_settings, embedder=fake_embedder)
    c.add([_write(tmp_path, "fact.txt"), _write(tmp_path, "other.txt", "这是一份关于社区治理的普通文件。")])
    assert "fact.txt" in _top_sources(c.assistant())
    changes = c.remove(["fact"])  # the document id
    assert [Path(k).name for k in changes.removed] == ["fact.txt"]
    assert [r.name for r in c.list()] == ["other.txt"]
    assert "fact.txt" not in _top_sources(c.assistant())
    with pytest.raises(CollectionError, match="no document 'nope'.*other.txt"):
        c.remove(["nope"])
    with pytest.raises(CollectionError, match="cannot remove every document"):
        c.remove(["other.txt"])


def test_default_collection_starts_as_a_copy_of_the_essay(fake_settings, fake_embedder, tmp_path):
    assert resolve(None, fake_settings) is None, "before any add, the bundled essay is served"
    c = Collection("default", fake_settings, embedder=fake_embedder)
    c.add([_write(tmp_path, "fact.txt")])
    assert sorted(r.name for r in c.list()) == ["essay_page.txt", "fact.txt"]
    assert resolve(None, fake_settings).name == "default"
    assert "essay_page.txt" in _top_sources(c.assistant(), "社区工作者的待遇怎么保障？")


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "a\\b", "x" * 65, "c:d"])
def test_bad_names_are_refused(name):
    with pytest.raises(CollectionError, match="bad collection name"):
        check_name(name)


def test_good_names_pass():
    assert check_name("政策 2024-v1") == "政策 2024-v1"


def test_a_collection_that_does_not_exist_says_how_to_make_one(fake_settings):
    with pytest.raises(CollectionError, match="qa add PATH … --collection nope"):
        resolve("nope", fake_settings)


# -- the commands ------------------------------------------------------------------------------------------------

@pytest.fixture
def qa_cli(monkeypatch, tmp_path):
    """``qa`` with the fake model and private index and cache folders; returns (exit code, stdout, stderr)."""
    from qa import cli

    monkeypatch.setenv("QA_MODEL", "fake")
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))

    def run(*argv: str) -> int:
        return cli.main(list(argv))
    return run


def test_cli_add_list_ask_remove(qa_cli, capsys, tmp_path):
    fact = _write(tmp_path / "docs", "fact.txt")
    assert qa_cli("add", str(fact), "--collection", "mine") == 0
    out = capsys.readouterr().out
    assert "collection mine:" in out and "added (1): fact.txt" in out

    assert qa_cli("list", "--collection", "mine", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["collection"] == "mine" and not data["read_only"]
    [doc] = data["documents"]
    assert doc["name"] == "fact.txt" and doc["format"] == "text" and doc["passages"] >= 1

    assert qa_cli("ask", QUESTION, "--collection", "mine", "--json", "-k", "1") == 0
    assert Path(json.loads(capsys.readouterr().out)["hits"][0]["source"]).name == "fact.txt"

    assert qa_cli("index", "--collection", "mine") == 0
    assert "unchanged (1): fact.txt" in capsys.readouterr().out

    assert qa_cli("add", str(_write(tmp_path / "docs", "more.txt", "补充的材料。")), "--collection", "mine") == 0
    capsys.readouterr()
    assert qa_cli("remove", "fact.txt", "--collection", "mine") == 0
    assert "removed (1): fact.txt" in capsys.readouterr().out
    assert qa_cli("list", "--collection", "mine") == 0
    out = capsys.readouterr().out
    assert "more.txt" in out and "fact.txt" not in out


def test_cli_without_collection_uses_the_default_once_created(qa_cli, capsys, tmp_path):
    assert qa_cli("list") == 0
    assert "bundled essay" in capsys.readouterr().out
    assert qa_cli("add", str(_write(tmp_path, "fact.txt"))) == 0
    assert "added (2): essay_page.txt, fact.txt" in capsys.readouterr().out
    assert qa_cli("ask", QUESTION, "--json", "-k", "1") == 0
    assert Path(json.loads(capsys.readouterr().out)["hits"][0]["source"]).name == "fact.txt"


def test_cli_eval_and_serve_take_a_collection(qa_cli, capsys, tmp_path, monkeypatch):
    assert qa_cli("add", str(_write(tmp_path, "fact.txt")), "--collection", "mine") == 0
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION, "evidence": ["三百万元"]},
                                    ensure_ascii=False) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert qa_cli("eval", str(questions), "--collection", "mine", "--json") == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["hit@1"] == 1.0

    seen = {}
    monkeypatch.setattr("qa.web.server.serve", lambda corpus, settings, host, port, collection=None: seen.update(
        collection=collection) or 0)
    assert qa_cli("serve", "--collection", "mine") == 0 and seen["collection"].name == "mine"
    assert qa_cli("serve") == 0 and seen["collection"].name == "default", "uploads go to the default collection"
    assert qa_cli("serve", "--corpus", str(tmp_path / "fact.txt")) == 0 and seen["collection"] is None
    assert qa_cli("serve", "--collection", "nope") == 1


def test_cli_errors_are_one_line(qa_cli, capsys, tmp_path):
    assert qa_cli("ask", "问题", "--collection", "nope") == 1
    assert "collection 'nope' has no documents" in capsys.readouterr().err
    assert qa_cli("add", str(tmp_path / "missing.txt"), "--collection", "x") == 1
    assert "no such file" in capsys.readouterr().err
    assert qa_cli("add", str(_write(tmp_path, "a.txt")), "--collection", "../up") == 1
    assert "bad collection name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        qa_cli("ask", "问题", "--collection", "x", "--corpus", str(tmp_path / "a.txt"))
    assert exc.value.code == 2 and "not both" in capsys.readouterr().err


# -- the server: JSON API and the Documents tab's handlers (fake model, no browser) ------------------------------

@pytest.fixture
def app_over_default(fake_settings, fake_embedder):
    """(FastAPI test client, UI handlers, collection) of a server over the default collection, not yet created."""
    from fastapi.testclient import TestClient

    from qa import Assistant
    from qa.web.server import create_app

    collection = Collection("default", fake_settings, embedder=fake_embedder)
    app = create_app(Assistant(settings=fake_settings, embedder=fake_embedder), collection)
    with TestClient(app) as client:
        yield client, collection
    app.state.close()


def test_api_upload_ask_delete(app_over_default, tmp_path):
    client, collection = app_over_default
    before = client.get("/api/documents").json()
    assert [d["name"] for d in before["documents"]] == ["essay_page.txt"] and not before["read_only"]

    r = client.post("/api/documents", files=[("file", ("预算 通知.txt", FACT.encode(), "text/plain"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == ["essay_page.txt", "预算 通知.txt"]
    assert {d["name"] for d in body["documents"]} == {"essay_page.txt", "预算 通知.txt"}
    hits = client.post("/api/ask", json={"question": QUESTION, "k": 3}).json()["hits"]
    assert hits[0]["source"] == "预算 通知.txt", "asked without a restart, answered by the upload"
    assert client.get("/api/health").json()["documents"] == 2

    r = client.post("/api/documents", files=[("file", ("empty.txt", b"   ", "text/plain"))])
    assert r.status_code == 400 and "empty.txt" in r.json()["error"] and "qa-doc-upload" not in r.json()["error"]

    r = client.delete("/api/documents/预算 通知.txt")
    assert r.status_code == 200 and r.json()["removed"] == ["预算 通知.txt"]
    hits = client.post("/api/ask", json={"question": QUESTION, "k": 3}).json()["hits"]
    assert all(h["source"] != "预算 通知.txt" for h in hits)
    assert client.delete("/api/documents/nope").status_code == 404
    many = [("file", (f"f{i}.txt", FACT.encode(), "text/plain")) for i in range(11)]
    r = client.post("/api/documents", files=many)
    assert r.status_code == 413 and "at most 10" in r.json()["error"]


def test_api_of_fixed_files_is_read_only(fake_settings, fake_embedder, tmp_path):
    from fastapi.testclient import TestClient

    from qa import Assistant
    from qa.web.server import create_app

    app = create_app(Assistant([_write(tmp_path, "fact.txt")], fake_settings, embedder=fake_embedder))
    with TestClient(app) as client:
        assert client.get("/api/documents").json()["read_only"] is True
        r = client.post("/api/documents", files=[("file", ("a.txt", FACT.encode(), "text/plain"))])
        assert r.status_code == 400 and "--collection" in r.json()["error"]
    app.state.close()


def test_documents_tab_handlers_swap_the_assistant(fake_settings, fake_embedder, tmp_path):
    from qa import Assistant
    from qa.web.documents import LiveAssistant
    from qa.web.ui import QAHandlers

    collection = Collection("default", fake_settings, embedder=fake_embedder)
    live = LiveAssistant(Assistant(settings=fake_settings, embedder=fake_embedder), collection)
    h = QAHandlers(live.assistant, live=live)
    upload = _write(tmp_path / "gradio-cache", "fact.txt")
    status, table, choices, box = h.add_documents([str(upload)])
    assert "Added" in status and "fact.txt" in table and "fact.txt" in choices["choices"] and box is None
    assert not upload.exists(), "the upload is deleted once copied"
    status, *_ = h.add_documents([str(upload)])
    assert "upload the file again" in status
    assert "fact.txt" in h.ask_html(QUESTION, 3)
    assert h.runner.assistant is live.assistant, "evaluations use the new assistant too"
    status, table, choices = h.remove_document("fact.txt")
    assert "Removed" in status and "fact.txt" not in table
    assert "fact.txt" not in h.ask_html(QUESTION, 3)
    status, _, _ = h.remove_document("essay_page.txt")
    assert "cannot remove every document" in status
    h.close()


def test_documents_tab_refuses_a_file_over_the_limit(fake_settings, fake_embedder, tmp_path):
    from qa import Assistant
    from qa.web.documents import LiveAssistant
    from qa.web.ui import QAHandlers

    settings = fake_settings.with_(max_file_bytes=100)
    collection = Collection("small", settings, embedder=fake_embedder)
    small = _write(tmp_path, "small.txt", "很短的文件。")
    live = LiveAssistant(Assistant([small], settings, embedder=fake_embedder), collection)
    h = QAHandlers(live.assistant, live=live)
    big = _write(tmp_path / "gradio-cache", "big.txt", FACT * 5)
    status, table, _, _ = h.add_documents([str(big)])
    assert "limit" in status and "big.txt" in status and "big.txt" not in table
    assert not collection.exists()
    h.close()
