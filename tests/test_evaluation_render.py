"""qa.evaluation.render: the bilingual text summary and the escaped, self-contained HTML report."""

from __future__ import annotations

import re

from evaluation_helpers import report_of, row, toy_report

from qa.evaluation.plots import plots
from qa.evaluation.render import report_html, summary_text, text_table
from qa.present import fmt


def _cells(text: str, label_start: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(label_start))
    return line.split()[-2:]


def test_summary_has_one_column_per_retriever_and_bilingual_labels():
    text = toy_report().summary()
    header = next(line for line in text.splitlines() if "hybrid" in line)
    assert header.split()[-2:] == ["hybrid", "dense"]
    assert _cells(text, "Hit@1 首位命中") == ["0.500", "0.000"]
    assert _cells(text, "MRR@10 平均倒数排名") == ["0.750", "0.250"]
    assert "3 问题 questions" in text and "2 可回答 answerable" in text
    for label in ("无答案的问题 unanswerable questions", "置信度校准误差 ECE", "延迟 latency p50 (ms)"):
        assert label in text
    assert "排名靠后 relevant passage not first 1" in text  # outcomes with their labels, not their keys
    assert "low_rank" not in text and "flagged_unanswerable" not in text


def test_summary_of_a_saved_json_object_lists_warnings():
    data = toy_report().to_dict()
    data["warnings"] = [f"line {i}: bad" for i in range(12)]
    text = summary_text(data)
    assert "12 条警告 warning(s)" in text and "line 9: bad" in text and "line 10: bad" not in text
    assert "另有 2 条 and 2 more" in text


def test_text_table_aligns_wide_characters():
    lines = text_table(["指标 figure", "a"], [["中文标签", "0.5"], ["x", "0.25"]]).splitlines()
    from wcwidth import wcswidth

    assert len({wcswidth(line) for line in lines if line.strip()}) == 1  # CJK counted as two columns


def test_html_report_escapes_everything_and_is_bilingual():
    rep = report_of({"hybrid": [row("a1", ("p1",), ("p2", "p1"), question="<script>alert(1)</script>"),
                                row("u1", (), ("p2",), found=True, question='"><img src=x onerror=alert(1)>')]})
    rep.warnings.append("line 9: <b>not markup</b> & more")
    data = rep.to_dict()
    page = report_html(rep, data, plots(rep))
    assert "<script" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;not markup&lt;/b&gt; &amp; more" in page
    assert "http://" not in page and "https://" not in page  # opens offline
    assert 'font-family:system-ui,"Noto Sans CJK SC"' in page  # the stylesheet is not escaped
    for label in ("评估报告 Evaluation report", "指标 Metrics", "置信度可靠性 Confidence reliability",
                  "无答案却作答 answered an unanswerable question", "排名靠后 relevant passage not first",
                  "警告 Warnings (1)", "Hit@1 首位命中"):
        assert label in page, label
    assert re.search(r"<td[^>]*>无答案却作答 answered an unanswerable question</td>", page)
    assert page.count("data:image/png;base64,") == 2  # ranks and reliability
    assert f"<h3>hybrid: ECE {fmt(data['not_found']['ece'])}</h3>" in page
    assert "<td>0.9–1.0</td>" in page


def test_fmt_is_shared_by_the_ui_and_the_report():
    assert (fmt(None), fmt(0.5), fmt(2), fmt(True), fmt(float("nan")), fmt(1.23456, 1)) == (
        "—", "0.500", "2", "是 yes", "—", "1.2")
