"""The present stage: answers, outlines and evaluation results as safe, readable HTML.

Pure tests over hand-built passages, hits and answers: no model, no index.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pytest

from qa import present
from qa.passages import Passage
from qa.evaluation import EvaluationReport, QuestionResult, RetrieverResult
from qa.evaluation.labels import NOT_FOUND_LABELS
from qa.search import Answer, Hit

VOID = {"br", "hr", "img", "input", "meta", "link", "wbr"}


class _Checker(HTMLParser):
    """Collects tags and text, and fails on unbalanced markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.marks: list[str] = []
        self._in_mark = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "mark":
            self._in_mark += 1
            self.marks.append("")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()
        if tag == "mark":
            self._in_mark -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_mark:
            self.marks[-1] += data


def parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.stack, f"unclosed tags: {checker.stack}"
    return checker


def make_hit(rank: int = 1, text: str = "第一句。第二句很重要。第三句。", highlights=((4, 11),),
             heading_path=("一、总论", "(一)分论"), confidence: float = 0.93) -> Hit:
    return Hit(rank=rank, passage_id=f"doc:{rank:03d}", doc_id="doc", title="文档标题",
               heading_path=tuple(heading_path), text=text, source="doc.txt", start=0, end=len(text),
               highlights=tuple(highlights),
               scores={"dense": 0.9, "lexical": 3.2, "fused": 0.032}, confidence=confidence)


def make_answer(hits, found: bool = True, question: str = "问题？") -> Answer:
    return Answer(question=question, hits=list(hits), found=found, confidence=0.9 if found else 0.2,
                  retriever="hybrid", latency_ms=12.5)


def P(i: int, path: tuple[str, ...], text: str = "正文。", doc: str = "doc", start: int | None = None) -> Passage:
    s = i * 100 if start is None else start
    return Passage(id=f"{doc}:{i:03d}", doc_id=doc, title=f"{doc} 标题", heading_path=path, text=text,
                   start=s, end=s + len(text), source=f"{doc}.txt")


# -- confidence -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, level, percent", [
    (0.99, "high", 99), (present.HIGH_CONFIDENCE, "high", 80), (0.6, "medium", 60),
    (present.MEDIUM_CONFIDENCE, "medium", 50), (0.49, "low", 49), (0.0, "low", 0),
    (1.5, "high", 100), (-1.0, "low", 0), (math.nan, "low", 0),
])
def test_confidence_label_buckets_and_percent(value, level, percent):
    label = present.confidence_label(value)
    assert (label.level, label.percent) == (level, percent)
    assert f"{percent}%" in str(label) and label.en in str(label) and label.zh in str(label)


# -- highlights --------------------------------------------------------------------------------------------

def test_highlight_marks_the_span_and_escapes_everything():
    text = "<b>a&b</b> 句子<script>alert(1)</script>。尾"
    start = text.index("句子")
    end = text.index("。") + 1
    out = present.highlight_html(text, [(start, end)])
    checker = parse(out)
    assert checker.tags == ["mark"], "only the <mark> tag may appear: corpus text is escaped"
    assert checker.marks == ["句子<script>alert(1)</script>。"]
    assert "".join(checker.text) == text
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_highlight_merges_overlaps_and_clips_out_of_range_spans():
    text = "abcdefghij"
    out = present.highlight_html(text, [(2, 5), (4, 7), (7, 8), (20, 30), (-3, 1), (6, 6)])
    checker = parse(out)
    assert checker.marks == ["a", "cdefgh"]
    assert "".join(checker.text) == text


def test_highlight_without_spans_is_plain_escaped_text():
    assert present.highlight_html("a < b", []) == "a &lt; b"


# -- answers -------------------------------------------------------------------------------------------------

def test_answer_html_cards_show_rank_breadcrumb_confidence_highlight_and_scores():
    hits = [make_hit(1), make_hit(2, confidence=0.55), make_hit(3, confidence=0.2)]
    out = present.answer_html(make_answer(hits))
    checker = parse(out)
    text = "".join(checker.text)
    assert out.count('class="qa-card"') == 3
    assert "#1" in text and "#2" in text and "#3" in text
    assert "一、总论" in text and "(一)分论" in text
    assert checker.marks == ["第二句很重要。"] * 3
    assert "高 high · 93%" in text and "中 medium · 55%" in text and "低 low · 20%" in text
    assert checker.tags.count("details") == 3, "the per-leg scores are on demand"
    assert "0.9000" in text and "3.2000" in text and "0.0320" in text
    assert 'data-found="true"' in out
    assert present.NOT_FOUND_NOTICE not in text


def test_answer_html_not_found_shows_notice_and_marks_nearest_passages():
    out = present.answer_html(make_answer([make_hit(1, confidence=0.2), make_hit(2, confidence=0.1)], found=False))
    text = "".join(parse(out).text)
    assert present.NOT_FOUND_NOTICE in text
    assert 'data-found="false"' in out
    assert out.count("qa-card qa-nearest") == 2
    assert text.count("nearest only") == 2


def test_answer_html_escapes_headings_titles_and_ids():
    hit = make_hit(heading_path=("<img src=x onerror=alert(1)>",), text="x\"'<>&")
    hit = Hit(**{**hit.__dict__, "passage_id": 'a"><script>', "source": "<s>"})
    out = present.answer_html(make_answer([hit]))
    checker = parse(out)
    assert "img" not in checker.tags and "script" not in checker.tags and "s" not in checker.tags
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert 'data-passage-id="a&quot;&gt;&lt;script&gt;"' in out


def test_answer_html_without_hits_says_so():
    out = present.answer_html(make_answer([], found=False))
    text = "".join(parse(out).text)
    assert present.NO_HITS_NOTICE in text and present.NOT_FOUND_NOTICE in text


def test_breadcrumb_falls_back_to_title_then_intro():
    assert "文档标题" in present.breadcrumb_html((), "文档标题")
    assert present.INTRO_LABEL in present.breadcrumb_html((), "")


def test_notice_escapes_and_restricts_kind():
    out = present.notice_html("<b>hi</b>", "bogus")
    assert "qa-notice-info" in out and "&lt;b&gt;" in out and parse(out).tags == ["div"]


# -- outline ---------------------------------------------------------------------------------------------------

ESSAY_LIKE = [
    P(0, ("标题 Title",)),
    P(1, ()),  # introduction, before the first heading
    P(2, ("一、不足", "(一)不完善")),
    P(3, ("一、不足", "(二)力度不足")),
    P(4, ("二、路径",)),  # directly under a heading that also has subheadings
    P(5, ("二、路径", "(一)组织", "1.定位")),
    P(6, ("二、路径", "(一)组织", "2.统筹")),
    P(7, ("基金项目 Funding",)),
]


def test_outline_builds_the_heading_tree_in_reading_order():
    [root] = present.outline(ESSAY_LIKE)
    assert root.title == "doc 标题" and root.path == () and [p.id for p in root.passages] == ["doc:001"]
    assert [c.title for c in root.children] == ["标题 Title", "一、不足", "二、路径", "基金项目 Funding"]
    two = root.children[2]
    assert [p.id for p in two.passages] == ["doc:004"]
    assert [c.title for c in two.children] == ["(一)组织"]
    assert [c.path for c in two.children[0].children] == [("二、路径", "(一)组织", "1.定位"),
                                                         ("二、路径", "(一)组织", "2.统筹")]
    assert root.size == len(ESSAY_LIKE)
    assert [p.id for n in two.walk() for p in n.passages] == ["doc:004", "doc:005", "doc:006"]
    keys = [n.key for n in root.walk()]
    assert len(keys) == len(set(keys)) and all(k.startswith("doc#") for k in keys)


def test_outline_has_one_root_per_document():
    roots = present.outline([P(0, ("一、甲",), doc="a"), P(1, ("一、甲",), doc="b"), P(2, ("二、乙",), doc="a")])
    assert [r.doc_id for r in roots] == ["a", "b"]
    assert [c.title for c in roots[0].children] == ["一、甲", "二、乙"]
    assert present.outline([]) == []


def test_outline_choices_are_indented_and_findable():
    roots = present.outline(ESSAY_LIKE)
    choices = present.outline_choices(roots)
    assert len(choices) == sum(1 for _ in roots[0].walk())
    labels = dict((key, label) for label, key in choices)
    node = present.find_node(roots, choices[-2][1])
    assert node is not None and labels[node.key].startswith("\u3000" * node.depth + node.title)
    assert f"（{node.size}）" in labels[node.key]
    assert present.find_node(roots, "nope#1") is None


def test_outline_html_shows_structure_in_reading_order_with_passages_folded():
    roots = present.outline(ESSAY_LIKE)
    out = present.outline_html(roots)
    checker = parse(out)
    text = "".join(checker.text)
    order = [text.index(s) for s in ("标题 Title", present.INTRO_LABEL, "一、不足", "(一)不完善", "二、路径",
                                       "1.定位", "基金项目 Funding")]
    assert order == sorted(order), "headings follow the document's reading order"
    assert checker.tags.count("details") >= 8
    assert text.count("正文。") == len(ESSAY_LIKE), "every passage is reachable from the outline"
    assert "No passages" in present.outline_html([])


def test_outline_html_escapes_headings():
    out = present.outline_html(present.outline([P(0, ("<i>x</i>",), text="<b>y</b>")]))
    assert "i" not in parse(out).tags and "&lt;i&gt;x&lt;/i&gt;" in out and "&lt;b&gt;y&lt;/b&gt;" in out


def test_section_html_lists_every_passage_under_a_heading():
    roots = present.outline(ESSAY_LIKE)
    two = roots[0].children[2]
    out = present.section_html(two)
    text = "".join(parse(out).text)
    assert "二、路径" in text and "3 段 passages" in text
    for pid in ("doc:004", "doc:005", "doc:006"):
        assert f'data-passage-id="{pid}"' in out
    assert 'data-passage-id="doc:002"' not in out
    whole = present.section_html(roots[0])
    assert whole.count("qa-passage") == len(ESSAY_LIKE)
    assert "Choose a heading" in present.section_html(None)


# -- header and evaluation ------------------------------------------------------------------------------------------

def test_header_html_escapes_the_description():
    out = present.header_html("标题", "<essay> — 20 passages", "副标题")
    text = "".join(parse(out).text)
    assert "<essay> — 20 passages" in text and "副标题" in text


def result(qid: str, relevant: tuple[str, ...], ranked: tuple[str, ...], *, found: bool = True,
           expects_answer: bool = True, question: str = "问题？", latency_ms: float = 10.0) -> QuestionResult:
    """One question's result as qa.evaluate makes it (hybrid retriever, no headings)."""
    return QuestionResult(id=qid, question=question, retriever="hybrid", relevant_ids=relevant, ranked_ids=ranked,
                          found=found, confidence=0.9 if found else 0.2, latency_ms=latency_ms,
                          expects_answer=expects_answer)


#: One question of each kind: ranked first, ranked second, missed, unanswerable (flagged), unjudged.
RESULTS = [
    result("q-ok", ("d:1",), ("d:1", "d:2"), latency_ms=10.0),
    result("q-low", ("d:3",), ("d:2", "d:3"), latency_ms=20.0),
    result("q-miss", ("d:4",), ("d:1", "d:2"), question="<失败>", latency_ms=30.0),
    result("q-none", (), ("d:1",), found=False, expects_answer=False, latency_ms=40.0),
    result("q-unjudged", (), ("d:2",), latency_ms=50.0),
]


def make_report(k: int = 10) -> EvaluationReport:
    """A report as qa.evaluate returns it, over the hand-made results (ir-measures computes the metrics)."""
    return EvaluationReport(dataset="dev.jsonl", path="dev.jsonl", format="jsonl", k=k,
                            results={"hybrid": RetrieverResult("hybrid", RESULTS, k)},
                            warnings=["line 7: not JSON"], n_skipped=1)


def test_metrics_html_is_a_table_of_the_report():
    out = present.metrics_html(make_report().to_dict())
    checker = parse(out)
    text = "".join(checker.text)
    assert re.findall(r"<th>(.*?)</th>", out) == ["Hit@1 首位命中", "Hit@3 前3命中", "Hit@5 前5命中", "Hit@10 前10命中",
                                                  "MRR@10 平均倒数排名", "nDCG@10 归一化折损累计增益"]
    # 3 answerable: ranked 1st, 2nd, missed
    for metric, value in (("hit@1", "0.333"), ("hit@3", "0.667"), ("mrr@10", "0.500"), ("ndcg@10", "0.544")):
        assert f'<td data-metric="{metric}">{value}</td>' in out
    assert "dev.jsonl" in text and "5 问题 questions" in text and "3 可回答 answerable" in text
    assert "1 跳过 skipped" in text and "line 7: not JSON" in text
    for key, count in (("unanswerable", 1), ("flagged_unanswerable", 1), ("answerable_flagged", 0)):
        assert f"{NOT_FOUND_LABELS[key].strip()} {count}" in text
    assert "flagged_unanswerable" not in text and "answerable_flagged" not in text, "labels, not keys"
    assert "p50 30.0 ms" in text and "未命中 missed 1" in text
    assert "置信度校准误差 ECE" in text and "reliability" not in text  # the ECE, not the bin table


def test_metrics_html_has_a_column_for_the_runs_own_k():
    out = present.metrics_html(make_report(k=20).to_dict())
    assert "<th>Hit@20 前20命中</th>" in out and '<td data-metric="hit@20">0.667</td>' in out


def test_rows_html_marks_failures_and_keeps_order():
    rows = make_report().rows
    out = present.rows_html(rows)
    checker = parse(out)
    assert [r.id for r in rows] == ["q-miss", "q-low", "q-unjudged", "q-ok", "q-none"], "failures first"
    positions = [out.index(f"<td>{r.id}</td>") for r in rows]
    assert positions == sorted(positions)
    row_start = r'<tr class="([^"]*)"><td class="qa-result">.</td><td>([^<]*)</td>'
    classes = {qid: cls for cls, qid in re.findall(row_start, out)}
    assert classes == {
        "q-miss": "qa-fail", "q-low": "qa-fail", "q-unjudged": "", "q-ok": "qa-pass", "q-none": "qa-pass"}
    assert "&lt;失败&gt;" in out and "—" in "".join(checker.text)
    assert "No per-question results" in present.rows_html([])


def test_rows_html_limits_long_tables():
    rows = [result(f"q{i}", ("d:1",), ("d:1",), question="问" * 500) for i in range(5)]
    out = present.rows_html(rows, limit=2)
    assert out.count('class="qa-pass"') == 2 and "Showing 2 of 5" in out
    assert "…" in out
