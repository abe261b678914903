"""Present answers, outlines and evaluation results as HTML: the library's last stage.

The web UI (``app.py``) only wires these functions to widgets, so everything a
person reads is built (and tested) here. Every string that comes from a user or
a corpus is passed through :func:`html.escape` before it reaches markup; the only
tags in the output are the ones written in this module. Labels are bilingual
(Chinese first, then English) where a reader needs them.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .config import Settings
from .passages import PATH_SEPARATOR, Passage
from .evaluation.labels import metric_label, not_found_label, outcome_label
from .evaluation.metrics import metric_names
from .evaluation.results import NOT_FOUND_COUNTS, QuestionResult
from .search import Answer, Hit

#: Confidence at or above which a hit is called "high".
HIGH_CONFIDENCE = 0.8
#: Confidence at or above which a hit is called "medium": the not-found threshold, so "low" means "probably not".
MEDIUM_CONFIDENCE: float = Settings.min_confidence
#: (lower bound, css level, Chinese, English), best first.
CONFIDENCE_LEVELS: tuple[tuple[float, str, str, str], ...] = (
    (HIGH_CONFIDENCE, "high", "高", "high"),
    (MEDIUM_CONFIDENCE, "medium", "中", "medium"),
    (0.0, "low", "低", "low"),
)
#: Label of passages that sit before a document's first heading.
INTRO_LABEL = "引言 Introduction"
#: Heading levels whose subheadings :func:`outline_html` shows open (leaves stay folded: they hold passages).
OUTLINE_OPEN_DEPTH = 2
#: At most this many per-question rows are rendered as HTML (the download has them all).
MAX_ROWS_SHOWN = 200
#: At most this many evaluation warnings are listed (the JSON and the report folder have all).
MAX_WARNINGS_SHOWN = 10
#: Characters of a row's question/passage shown in the per-question table.
ROW_TEXT_CHARS = 80

NOT_FOUND_NOTICE = ("文档似乎没有回答这个问题，以下只是最接近的段落。"
                    " · The document does not seem to answer this question; these are only the nearest passages.")
NO_HITS_NOTICE = "没有找到段落 · No passages found."


#: Styles of every class this module writes; the app passes it to ``launch(css=...)``.
STYLESHEET = """
.qa-header h1 { margin: 0 0 .2rem 0; font-size: 1.6rem; }
.qa-subtitle { color: var(--body-text-color-subdued); margin-bottom: .3rem; }
.qa-serves { font-size: .9rem; color: var(--body-text-color); }
.qa-serves-label { font-weight: 600; }
.qa-summary { color: var(--body-text-color-subdued); font-size: .85rem; margin: .2rem 0 .6rem 0; }
.qa-notice { padding: .6rem .8rem; border-radius: 8px; margin: .4rem 0 .8rem 0; border: 1px solid; }
.qa-notice-info { background: #eef4ff; border-color: #b8cdf5; color: #1e3a6e; }
.qa-notice-warning { background: #fff6e0; border-color: #f0c36d; color: #6b4a00; font-weight: 600; }
.qa-notice-error { background: #fdecec; border-color: #f1a7a7; color: #7a1c1c; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .8rem 1rem;
           margin-bottom: .8rem; background: var(--background-fill-primary); }
.qa-card.qa-nearest { opacity: .78; border-style: dashed; }
.qa-card-head { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; margin-bottom: .4rem; }
.qa-rank { font-weight: 700; color: var(--color-accent); }
.qa-breadcrumb { flex: 1 1 auto; font-size: .9rem; color: var(--body-text-color-subdued); }
.qa-sep { margin: 0 .3rem; opacity: .6; }
.qa-loc { font-size: .8rem; color: var(--body-text-color-subdued); white-space: nowrap; }
.qa-conf { font-size: .8rem; padding: .1rem .5rem; border-radius: 999px; white-space: nowrap; }
.qa-conf-high { background: #dcfce7; color: #14532d; }
.qa-conf-medium { background: #fef9c3; color: #713f12; }
.qa-conf-low { background: #f1f5f9; color: #475569; }
.qa-nearest-tag { font-size: .75rem; color: #92400e; border: 1px solid #f0c36d; border-radius: 4px; padding: 0 .3rem; }
.qa-text { line-height: 1.8; margin: .2rem 0; white-space: pre-wrap; }
.qa-text mark { background: #fde68a; color: #1f2937; padding: 0 .1rem; border-radius: 3px; }
.qa-scores summary, .qa-own summary { cursor: pointer; font-size: .8rem; color: var(--body-text-color-subdued); }
.qa-scores table { font-size: .8rem; margin-top: .3rem; }
.qa-scores th { text-align: left; padding-right: 1rem; font-weight: 500; }
.qa-where { font-size: .75rem; color: var(--body-text-color-subdued); word-break: break-all; }
.qa-outline ul.qa-tree { list-style: none; padding-left: 1.1rem; margin: .2rem 0; }
.qa-doc-title { font-weight: 700; font-size: 1.1rem; margin-bottom: .3rem; }
.qa-node > summary { cursor: pointer; padding: .15rem 0; }
.qa-h { font-weight: 600; }
.qa-depth-2 > summary .qa-h, .qa-depth-3 > summary .qa-h { font-weight: 500; }
.qa-count { margin-left: .4rem; font-size: .75rem; color: var(--body-text-color-subdued);
            border: 1px solid var(--border-color-primary); border-radius: 999px; padding: 0 .4rem; }
.qa-passage { border-left: 3px solid var(--border-color-primary); padding: .3rem .6rem; margin: .3rem 0;
              line-height: 1.7; white-space: pre-wrap; }
.qa-pid { font-size: .7rem; color: var(--body-text-color-subdued); margin-right: .5rem; }
.qa-section-title { margin: 0 0 .3rem 0; }
.qa-section-part { margin-bottom: .8rem; }
.qa-metrics, .qa-rows { border-collapse: collapse; margin: .4rem 0; font-size: .9rem; }
.qa-metrics th, .qa-metrics td, .qa-rows th, .qa-rows td { border: 1px solid var(--border-color-primary);
                                                           padding: .25rem .6rem; text-align: left; }
.qa-metrics td { font-variant-numeric: tabular-nums; text-align: right; }
.qa-rows tr.qa-fail td.qa-result { color: #b91c1c; font-weight: 700; }
.qa-rows tr.qa-pass td.qa-result { color: #15803d; font-weight: 700; }
.qa-eval-note { font-size: .85rem; color: var(--body-text-color-subdued); }
"""


def esc(value: object) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


# -- confidence ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfidenceLabel:
    """A confidence a person can read: level (high/medium/low), its Chinese word and a percent."""

    level: str
    zh: str
    en: str
    percent: int

    def __str__(self) -> str:
        return f"{self.zh} {self.en} · {self.percent}%"


def confidence_label(confidence: float) -> ConfidenceLabel:
    """Bucket a 0..1 confidence into high / medium / low with a whole percent."""
    c = confidence if isinstance(confidence, (int, float)) and math.isfinite(confidence) else 0.0
    c = min(max(float(c), 0.0), 1.0)
    for bound, level, zh, en in CONFIDENCE_LEVELS:
        if c >= bound:
            return ConfidenceLabel(level, zh, en, round(c * 100))
    raise AssertionError("unreachable: the last level starts at 0")  # pragma: no cover


# -- highlights -----------------------------------------------------------------------------------------

def merge_spans(spans: Iterable[Sequence[int]], length: int) -> list[tuple[int, int]]:
    """Spans clipped to ``0..length``, sorted, with overlapping or touching ones merged."""
    clipped = sorted((max(0, int(s)), min(length, int(e))) for s, e in spans)
    out: list[tuple[int, int]] = []
    for s, e in clipped:
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def highlight_html(text: str, spans: Iterable[Sequence[int]]) -> str:
    """``text`` escaped, with each span wrapped in ``<mark>`` (spans index the unescaped text)."""
    parts: list[str] = []
    pos = 0
    for s, e in merge_spans(spans, len(text)):
        parts.append(esc(text[pos:s]))
        parts.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    parts.append(esc(text[pos:]))
    return "".join(parts)


def breadcrumb_html(heading_path: Sequence[str], title: str = "") -> str:
    """The heading path as a breadcrumb (``a › b › c``); the title when there is no heading."""
    items = list(heading_path) or ([title] if title else [INTRO_LABEL])
    crumbs = f'<span class="qa-sep">{esc(PATH_SEPARATOR.strip())}</span>'.join(
        f'<span class="qa-crumb">{esc(h)}</span>' for h in items)
    return f'<nav class="qa-breadcrumb" aria-label="heading path 标题路径">{crumbs}</nav>'


# -- answers --------------------------------------------------------------------------------------------

def _score_details(hit: Hit) -> str:
    rows = [
        ("语义 dense (cosine)", hit.scores.get("dense")),
        ("词汇 lexical (BM25)", hit.scores.get("lexical")),
        ("覆盖 coverage (question bigrams in passage)", hit.scores.get("coverage")),
        ("融合 fused (z-score)", hit.scores.get("fused")),
        ("置信度 confidence", hit.confidence),
    ]
    cells = "".join(
        f"<tr><th>{esc(name)}</th><td>{esc(f'{value:.4f}' if isinstance(value, (int, float)) else '—')}</td></tr>"
        for name, value in rows)
    where = f"{hit.passage_id} · {hit.source} [{hit.start}:{hit.end}]"
    return (f'<details class="qa-scores"><summary>分数 Scores</summary>'
            f'<table>{cells}</table><div class="qa-where">{esc(where)}</div></details>')


def location_text(source: str, page: int | None, paragraph: int | None) -> str:
    """Where a passage is in its file: ``report.pdf · p. 3``, ``notice.docx · ¶ 12``; ``""`` for plain text."""
    if page is None and paragraph is None:
        return ""
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    where = f"p. {page}" if page is not None else f"¶ {paragraph}"
    return f"{name} · {where}" if name else where


def hit_html(hit: Hit, *, nearest_only: bool = False) -> str:
    """One hit as a card: rank, breadcrumb, confidence badge, passage with ``<mark>``ed sentences, scores."""
    label = confidence_label(hit.confidence)
    classes = "qa-card qa-nearest" if nearest_only else "qa-card"
    nearest = '<span class="qa-nearest-tag">仅供参考 nearest only</span>' if nearest_only else ""
    return (
        f'<article class="{classes}" data-rank="{hit.rank}" data-passage-id="{esc(hit.passage_id)}">'
        f'<header class="qa-card-head"><span class="qa-rank">#{hit.rank}</span>'
        f"{breadcrumb_html(hit.heading_path, hit.title)}{_location_html(hit)}"
        f'<span class="qa-conf qa-conf-{label.level}" title="置信度 confidence">{esc(str(label))}</span>'
        f"{nearest}</header>"
        f'<p class="qa-text">{highlight_html(hit.text, hit.highlights)}</p>'
        f"{_score_details(hit)}</article>"
    )


def _location_html(hit: Hit) -> str:
    where = location_text(hit.source, hit.page, hit.paragraph)
    return f'<span class="qa-loc" title="出处 where in the file">{esc(where)}</span>' if where else ""


def answer_html(answer: Answer) -> str:
    """An answer as HTML: a summary line, a not-found notice when needed, then one card per hit."""
    summary = (f'<div class="qa-summary">{len(answer.hits)} 段 passages · '
               f'{esc(answer.retriever)} · {answer.latency_ms:.0f} ms</div>')
    if answer.reason:  # the answer-level decision, explained in one line
        summary += f'<div class="qa-reason" role="note">{esc(answer.reason)}</div>'
    notice = "" if answer.found else notice_html(NOT_FOUND_NOTICE, "warning", role="status")
    if not answer.hits:
        return f'<section class="qa-answer">{notice}{notice_html(NO_HITS_NOTICE)}</section>'
    cards = "".join(hit_html(h, nearest_only=not answer.found) for h in answer.hits)
    found = "true" if answer.found else "false"
    return f'<section class="qa-answer" data-found="{found}">{summary}{notice}{cards}</section>'


def notice_html(message: str, kind: str = "info", *, role: str = "note") -> str:
    """A one-line notice (``info``, ``warning`` or ``error``) with the message escaped."""
    kind = kind if kind in ("info", "warning", "error") else "info"
    return f'<div class="qa-notice qa-notice-{kind}" role="{esc(role)}">{esc(message)}</div>'


# -- outline --------------------------------------------------------------------------------------------

@dataclass
class OutlineNode:
    """A heading of a document (or the document itself at the root) and what sits under it."""

    title: str
    path: tuple[str, ...]
    doc_id: str
    key: str = ""
    """Stable id of the node within one :func:`outline` (``doc_id#n``), for widgets and anchors."""
    passages: list[Passage] = field(default_factory=list)
    """Passages directly under this heading (not under its subheadings)."""
    children: list["OutlineNode"] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.path)

    def walk(self) -> Iterator["OutlineNode"]:
        """This node and every node below it, in reading order."""
        yield self
        for c in self.children:
            yield from c.walk()

    @property
    def size(self) -> int:
        return sum(len(n.passages) for n in self.walk())


def outline(passages: Sequence[Passage]) -> list[OutlineNode]:
    """The heading tree of each document (one root per document), built from passages' heading paths."""
    roots: dict[str, OutlineNode] = {}
    index: dict[tuple[str, tuple[str, ...]], OutlineNode] = {}
    for p in passages:
        root = roots.get(p.doc_id)
        if root is None:
            root = roots[p.doc_id] = OutlineNode(title=p.title, path=(), doc_id=p.doc_id)
            index[(p.doc_id, ())] = root
        node = root
        for depth in range(1, len(p.heading_path) + 1):
            path = tuple(p.heading_path[:depth])
            child = index.get((p.doc_id, path))
            if child is None:
                child = OutlineNode(title=path[-1], path=path, doc_id=p.doc_id)
                node.children.append(child)
                index[(p.doc_id, path)] = child
            node = child
        node.passages.append(p)
    for root in roots.values():
        for n, node in enumerate(root.walk()):
            node.key = f"{root.doc_id}#{n}"
    return list(roots.values())


def find_node(roots: Sequence[OutlineNode], key: str) -> OutlineNode | None:
    """The node with this key, or None."""
    for root in roots:
        for node in root.walk():
            if node.key == key:
                return node
    return None


def outline_choices(roots: Sequence[OutlineNode]) -> list[tuple[str, str]]:
    """(indented label with passage count, key) for every node: the choices of a heading picker."""
    indent = "\u3000"  # ideographic space: keeps Chinese headings aligned
    return [(f"{indent * node.depth}{node.title}（{node.size}）", node.key)
            for root in roots for node in root.walk()]


def _anchor(key: str) -> str:
    return "qa-sec-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def _passages_block(passages: Sequence[Passage]) -> str:
    return "".join(f'<div class="qa-passage" data-passage-id="{esc(p.id)}">'
                   f'<span class="qa-pid">{esc(p.id)}</span>{esc(p.text)}</div>' for p in passages)


def _first_start(node: OutlineNode) -> int:
    starts = [p.start for n in node.walk() for p in n.passages]
    return min(starts) if starts else 0


def _item(heading: str, count: int, body: str, *, depth: int, key: str, open_depth: int) -> str:
    is_open = " open" if depth <= open_depth else ""
    return (f'<details class="qa-node qa-depth-{depth}" id="{_anchor(key)}" data-key="{esc(key)}"{is_open}>'
            f'<summary><span class="qa-h">{esc(heading)}</span><span class="qa-count">{count}</span></summary>'
            f"{body}</details>")


def _node_html(node: OutlineNode, open_depth: int) -> str:
    """A heading: a leaf folds its passages; a heading with subheadings lists them (open to ``open_depth``)."""
    if not node.children:  # a leaf: opening it shows its passages
        return _item(node.title, node.size, _passages_block(node.passages), depth=node.depth, key=node.key,
                     open_depth=0)
    own = ""
    if node.passages:
        own = (f'<details class="qa-own"><summary>{len(node.passages)} 段 passages</summary>'
               f"{_passages_block(node.passages)}</details>")
    children = "".join(f"<li>{_node_html(c, open_depth)}</li>" for c in node.children)
    return _item(node.title, node.size, f'{own}<ul class="qa-tree">{children}</ul>', depth=node.depth,
                 key=node.key, open_depth=open_depth)


def _document_html(root: OutlineNode, open_depth: int) -> str:
    """A document: its title, then its top-level headings and its introduction, in reading order."""
    items = [(_first_start(c), _node_html(c, open_depth)) for c in root.children]
    if root.passages:  # passages before the first heading
        intro = _item(INTRO_LABEL, len(root.passages), _passages_block(root.passages), depth=1,
                      key=root.key, open_depth=0)
        items.append((root.passages[0].start, intro))
    items.sort(key=lambda item: item[0])
    lis = "".join(f"<li>{html_}</li>" for _, html_ in items)
    return (f'<div class="qa-doc" id="{_anchor(root.key)}-doc"><div class="qa-doc-title">{esc(root.title)}</div>'
            f'<ul class="qa-tree">{lis}</ul></div>')


def outline_html(roots: Sequence[OutlineNode], *, open_depth: int = OUTLINE_OPEN_DEPTH) -> str:
    """The heading tree as nested ``<details>``: headings to the given depth open, passages folded under each."""
    if not roots:
        return notice_html("没有段落 · No passages.")
    documents = "".join(_document_html(r, open_depth) for r in roots)
    return f'<nav class="qa-outline" aria-label="outline 目录">{documents}</nav>'


def section_html(node: OutlineNode | None) -> str:
    """A heading's breadcrumb and every passage under it, grouped by subheading, in reading order."""
    if node is None:
        return notice_html("选择一个标题 · Choose a heading.")
    blocks = []
    for n in node.walk():
        if not n.passages:
            continue
        title = breadcrumb_html(n.path, INTRO_LABEL if n.depth == 0 else n.title)
        blocks.append(f'<div class="qa-section-part">{title}{_passages_block(n.passages)}</div>')
    head = esc(node.title if node.depth else f"{node.title} — 全文 whole document")
    body = "".join(blocks) or notice_html("这个标题下没有段落 · No passages under this heading.")
    return (f'<section class="qa-section" data-key="{esc(node.key)}"><h3 class="qa-section-title">{head}</h3>'
            f'<div class="qa-summary">{node.size} 段 passages</div>{body}</section>')


# -- header ---------------------------------------------------------------------------------------------

def header_html(title: str, description: str, subtitle: str = "") -> str:
    """The page header: app title, an optional subtitle and what the assistant serves."""
    sub = f'<div class="qa-subtitle">{esc(subtitle)}</div>' if subtitle else ""
    return (f'<header class="qa-header"><h1>{esc(title)}</h1>{sub}'
            f'<div class="qa-serves"><span class="qa-serves-label">正在服务 Serving:</span> {esc(description)}</div>'
            "</header>")


# -- evaluation -----------------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 3) -> str:
    """A figure as text, the same in the UI, the text summary and the HTML report.

    Floats to ``digits`` places, a missing figure as a dash, booleans as 是 yes / 否 no.
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    return str(value)


def metrics_html(report: Mapping[str, Any]) -> str:
    """The evaluation's headline numbers (an ``EvaluationReport.to_dict()``) as a small table."""
    metrics = report.get("metrics") or {}
    head = (f'<div class="qa-summary">{esc(report.get("dataset", ""))} · '
            f'{esc(report.get("n_questions", "?"))} 问题 questions, '
            f'{esc(report.get("n_answerable", "?"))} 可回答 answerable'
            + (f', {esc(report["n_skipped"])} 跳过 skipped' if report.get("n_skipped") else "") + "</div>")
    keys = metric_names(report.get("k"))
    header = "".join(f"<th>{esc(metric_label(k))}</th>" for k in keys)
    cells = "".join(f'<td data-metric="{esc(k)}">{esc(fmt(metrics.get(k)))}</td>' for k in keys)
    table = (f'<table class="qa-metrics"><thead><tr>{header}</tr></thead>'
             f"<tbody><tr>{cells}</tr></tbody></table>")
    extra = []
    not_found = report.get("not_found") or {}
    shown = [k for k in (*NOT_FOUND_COUNTS, "ece") if k in not_found]
    if shown:
        extra.append("无答案判断 not-found: " + ", ".join(f"{not_found_label(k)} {fmt(not_found[k])}" for k in shown))
    outcomes = report.get("outcomes") or {}
    if any(outcomes.values()):
        extra.append("判定 outcomes: " + ", ".join(f"{outcome_label(k)} {fmt(v)}" for k, v in outcomes.items() if v))
    latency = report.get("latency_ms") or {}
    if latency:
        extra.append("延迟 latency: " + ", ".join(f"{k} {fmt(v, 1)} ms" for k, v in latency.items()))
    if report.get("interrupted"):
        extra.append("评估被中断，结果只含已完成的问题 · The run was interrupted; results cover the questions done.")
    notes = "".join(f'<div class="qa-eval-note">{esc(e)}</div>' for e in extra)
    return f'<section class="qa-eval">{head}{table}{notes}{warnings_html(report.get("warnings") or [])}</section>'


def warnings_html(warnings: Sequence[str], *, limit: int = MAX_WARNINGS_SHOWN) -> str:
    """The evaluation's warnings (skipped lines and the like), the first few listed."""
    if not warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings[:limit])
    more = f"<li>… +{len(warnings) - limit}</li>" if len(warnings) > limit else ""
    return (f'<details class="qa-warnings" open><summary>{len(warnings)} 条警告 warnings</summary>'
            f"<ul>{items}{more}</ul></details>")


def _clip(text: str, limit: int = ROW_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Headers of the per-question table, after the pass/fail mark.
ROW_HEADERS: tuple[str, ...] = ("id", "问题 question", "判定 outcome", "相关段落排名 rank of first relevant",
                                "首位段落 top passage", "置信度 confidence")


def _row_mark(outcome: str) -> tuple[str, str]:
    """(row class, mark) of an outcome: ``ok`` passes, ``unjudged`` is neither, any other fails."""
    if outcome == "ok":
        return "qa-pass", "✓"
    if outcome == "unjudged":  # the file's evidence is in no passage
        return "", "·"
    return "qa-fail", "✗"


def rows_html(rows: Sequence[QuestionResult], *, limit: int = MAX_ROWS_SHOWN) -> str:
    """Per-question results as a table (in the order given: failures first), each row marked pass/fail."""
    if not rows:
        return notice_html("没有逐题结果 · No per-question results.")
    header = "<th>结果 result</th>" + "".join(f"<th>{esc(label)}</th>" for label in ROW_HEADERS)
    body = []
    for row in rows[:limit]:
        cls, mark = _row_mark(row.outcome)
        values = (row.id, row.question, outcome_label(row.outcome), row.rank, row.top_breadcrumb, row.confidence)
        cells = "".join(f"<td>{esc(_clip(fmt(v)))}</td>" for v in values)
        body.append(f'<tr class="{cls}"><td class="qa-result">{mark}</td>{cells}</tr>')
    more = (notice_html(f"只显示前 {limit} 行，共 {len(rows)} 行；完整结果见下载。"
                        f" · Showing {limit} of {len(rows)} rows; the download has all.")
            if len(rows) > limit else "")
    return (f'<table class="qa-rows"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f"{more}")
