"""``qa eval --ray``: question batches answered by local Ray actors give the answers of one process,
for JSONL and SQuAD files, the actors opening the index the driver built."""

import json
from pathlib import Path

import pytest

from qa import Assistant, evaluate
from qa.corpus import document_from_text

pytestmark = pytest.mark.scale

TEXT = ("一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
        "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
        "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。\n"
        "四、借阅 读者凭证借阅图书。逾期归还的图书按日计费。")
SQUAD = Path(__file__).parent / "data" / "squad_small.json"
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


def test_a_lite_file_cannot_be_shared_by_actors(fake_settings):
    pytest.importorskip("ray")
    from qa.stores import StoreError
    from qa.stores.ray_eval import RaySpread

    lite = fake_settings.with_(store="milvus", milvus_uri=str(fake_settings.index_dir / "x.db"))
    with pytest.raises(StoreError, match="one process at a time") as info:
        RaySpread(lite)
    assert "\n" not in str(info.value)


def test_a_squad_file_through_actors_gives_the_answers_of_one_process(local_ray, fake_settings):
    from qa.stores.ray_eval import RaySpread

    plain = evaluate(SQUAD, settings=fake_settings, progress=False)
    spread = RaySpread(fake_settings)
    try:
        pooled = evaluate(SQUAD, settings=fake_settings, progress=False, spread=spread)
        (pool,) = spread.pools
        assert len(pool._actors) == 2
        # each actor opened the index built for the file's contexts (one passage each), not one of its own
        assert pool.assistant.settings.split_contexts is False
        assert set(local_ray.get([a.where.remote() for a in pool._actors])) == {str(pool.assistant.index.folder)}
    finally:
        spread.close()
    assert _rows(plain) == _rows(pooled) and len(_rows(pooled)) == 8
    assert plain.results["hybrid"].metrics == pooled.results["hybrid"].metrics


def test_cli_eval_ray_takes_a_squad_file(local_ray, tmp_path, capsys):
    from qa.cli import main

    common = [str(SQUAD), "--model", "fake", "--index-dir", str(tmp_path / "i"), "--json", "--retriever", "hybrid",
              "dense"]
    assert main(["eval", *common]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["eval", *common, "--ray"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    for r in ("hybrid", "dense"):
        rows = lambda report: [(q["id"], q["top_passage_id"], q["rank"], q["found"], q["confidence"])  # noqa: E731
                               for q in report["by_retriever"][r]["per_question"]]
        assert rows(plain) == rows(pooled) and len(rows(pooled)) == 8
    assert plain["metrics"] == pooled["metrics"]


def test_actors_given_a_folder_open_its_index_and_refuse_another(local_ray, fake_settings, tmp_path, questions_file):
    from qa.stores import StoreError
    from qa.stores.ray_eval import RayAssistant

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT, encoding="utf-8")
    (folder / "b.txt").write_text("五、场馆 体育馆周末对市民免费开放。", encoding="utf-8")
    local = Assistant([folder], fake_settings)  # its index folder is named after the folder
    pooled = RayAssistant(local, corpus=[folder])
    try:
        assert _rows(evaluate(questions_file, assistant=local, progress=False)) == \
            _rows(evaluate(questions_file, assistant=pooled, progress=False))
    finally:
        pooled.close()
    with pytest.raises(StoreError, match="opened another index") as info:
        RayAssistant(local)  # given the documents only, the actors open the index of those documents
    assert "\n" not in str(info.value)
