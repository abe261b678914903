"""``qa eval --ray``: question batches answered by local Ray actors give the answers of one process."""

import json

import pytest

from qa import Assistant, evaluate
from qa.corpus import document_from_text

pytestmark = pytest.mark.scale

TEXT = ("一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
        "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
        "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。\n"
        "四、借阅 读者凭证借阅图书。逾期归还的图书按日计费。")
QUESTIONS = [("q1", "专项经费接受审计监督", ["审计监督"]), ("q2", "社区工作者待遇", ["待遇逐年提高"]),
             ("q3", "图书逾期怎么办", ["逾期归还"]), ("q4", "谁统筹辖区资源", ["统筹辖区资源"]),
             ("q5", "火星上的天气", []), ("q6", "公务员考录", ["考录公务员"]), ("q7", "党建经费怎么拨付", ["按人头拨付"])]


def test_cli_eval_with_an_unreachable_cluster_is_one_line(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from qa.cli import main

    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "1", "question": "社区工作者待遇", "evidence": ["待遇"]}\n', encoding="utf-8")
    corpus = tmp_path / "doc.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["eval", str(path), "--corpus", str(corpus), "--model", "fake", "--index-dir", str(tmp_path / "i"),
                 "--ray", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from qa.stores.ray_ingest import start_ray

    start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture()
def questions_file(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"id": i, "question": q, "evidence": e}, ensure_ascii=False) + "\n"
                            for i, q, e in QUESTIONS), encoding="utf-8")
    return path


def _rows(report):
    return [(r.id, r.ranked_ids, r.found, round(r.confidence, 6)) for r in report.results["hybrid"].rows]


def test_actors_answer_as_one_process(local_ray, fake_settings, questions_file):
    from qa.stores.ray_eval import RayAssistant

    doc = document_from_text(TEXT, "doc", source="doc.txt")
    local = Assistant([doc], fake_settings)
    pooled = RayAssistant(local)
    assert len(pooled._actors) == 2
    try:
        a = evaluate(questions_file, assistant=local, progress=False)
        b = evaluate(questions_file, assistant=pooled, progress=False)
        assert _rows(a) == _rows(b) and len(_rows(b)) == len(QUESTIONS)
        assert a.results["hybrid"].metrics == b.results["hybrid"].metrics
    finally:
        pooled.close()


def test_cli_eval_ray_gives_the_same_figures(local_ray, tmp_path, questions_file, capsys):
    from qa.cli import main

    corpus = tmp_path / "doc.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    common = [str(questions_file), "--corpus", str(corpus), "--model", "fake", "--index-dir", str(tmp_path / "i"),
              "--json"]
    assert main(["eval", *common]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["eval", *common, "--ray"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    assert plain["metrics"] == pooled["metrics"] and plain["not_found"] == pooled["not_found"]
    ids = lambda report: [(q["id"], q["top_passage_id"], q["rank"], q["found"], q["confidence"])  # noqa: E731
                          for q in report["by_retriever"]["hybrid"]["per_question"]]
    assert ids(plain) == ids(pooled)


def test_a_lite_file_cannot_be_shared_by_actors(fake_settings, questions_file):
    pytest.importorskip("ray")
    from qa.stores import StoreError
    from qa.stores.ray_eval import ray_assistant

    lite = fake_settings.with_(store="milvus", milvus_uri=str(fake_settings.index_dir / "x.db"))
    with pytest.raises(StoreError, match="one process at a time") as info:
        ray_assistant(str(questions_file), "auto", None, None, lite)
    assert "\n" not in str(info.value)


def test_a_squad_file_is_refused_in_one_line(fake_settings, tmp_path):
    pytest.importorskip("ray")
    from qa.stores import StoreError
    from qa.stores.ray_eval import ray_assistant

    squad = tmp_path / "s.json"
    squad.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "社区工作者待遇逐年提高。", "qas": [
        {"id": "1", "question": "待遇怎样", "answers": [{"text": "逐年提高", "answer_start": 5}]}]}]}]},
        ensure_ascii=False), encoding="utf-8")
    with pytest.raises(StoreError, match="JSONL question files") as info:
        ray_assistant(str(squad), "auto", None, None, fake_settings)
    assert "\n" not in str(info.value)
