"""qa.evaluation.judging: relevance judged over every passage of the index."""

from __future__ import annotations

from evaluation_helpers import passage

from qa.evaluation import Question, judge_relevance


def test_judge_relevance_over_all_passages():
    passages = [
        passage("d:000", "d", "党建引领 社会治理，就是要明确定位。"),
        passage("d:001", "d", "社区党組織要有條件為群眾服務。", ("一、总则",)),
        passage("d:002", "d", "别的内容。", ("一、总则", "（一）特色党建品牌扩散效应不强")),
        passage("e:000", "e", "另一个文档。"),
    ]
    questions = [
        Question("q1", "?", evidence=("党建引领社会治理",), where="line 1"),           # whitespace folded
        Question("q2", "?", evidence=("社区党组织要有条件为群众服务",), where="line 2"),  # traditional -> simplified
        Question("q3", "?", evidence=("一、总则",), where="line 3"),                    # a heading: passages under it
        Question("q4", "?", evidence=("不存在的证据",), passage_ids=("e:000", "zz:9"), where="line 4"),
        Question("q5", "?", doc_ids=("e",), where="data[0]"),
        Question("q6", "?", evidence=("没有",), where="line 6"),
        Question("u1", "?", where="line 7"),
    ]
    relevant, warns = judge_relevance(questions, passages)
    assert relevant["q1"] == ("d:000",)
    assert relevant["q2"] == ("d:001",)
    assert relevant["q3"] == ("d:001", "d:002")
    assert relevant["q4"] == ("e:000",)
    assert relevant["q5"] == ("e:000",)
    assert relevant["q6"] == () and relevant["u1"] == ()
    text = "\n".join(warns)
    assert 'line 4 (q4): evidence "不存在的证据" is in no passage' in text
    assert 'line 4 (q4): passage id "zz:9" is not in the index' in text
    assert "line 6 (q6): no relevant passage in the corpus; left out of the metrics" in text
    assert "u1" not in text
