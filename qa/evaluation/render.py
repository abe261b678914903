"""Rendering of evaluation results for people: text tables (tabulate) and the HTML report (Jinja2).

Everything works from ``to_dict()`` objects, so a summary can be printed again from
a saved ``--json`` file. Labels are bilingual (see :mod:`.labels`); numbers are
formatted by :func:`qa.present.fmt`, the UI's formatter. The HTML page comes from
``templates/report.html.j2`` with autoescaping on: every value, whatever its
source (questions, headings, warnings), is escaped, and the page has no script
and nothing fetched from the network (plots are inlined).
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any, Mapping, Sequence

from ..present import fmt
from .labels import OUTCOME_HELP, OUTCOME_LABELS, OUTCOMES, latency_label, metric_label, not_found_label, \
    outcome_label
from .metrics import LATENCY_PERCENTILES
from .results import NOT_FOUND_COUNTS, EvaluationReport

#: At most this many warnings are listed in a text summary (the JSON and report folder have all).
MAX_WARNINGS_SHOWN = 10
#: At most this many failures per retriever are shown in ``index.html`` (the CSV/JSONL have all).
HTML_MAX_ROWS = 300
#: tabulate's layout of the text tables.
TABLE_FORMAT = "simple"


def _not_found_keys(block: Mapping[str, Any]) -> list[str]:
    """The not-found figures shown in tables: the counts, then the calibration error."""
    return [k for k in (*NOT_FOUND_COUNTS, "ece") if k in block]


def figure_rows(by: Mapping[str, Any]) -> list[list[str]]:
    """Metric, not-found and latency rows of a ``by_retriever`` mapping: a label, then one cell per retriever."""
    names = list(by)
    first = by[names[0]]
    rows = [[metric_label(m), *(fmt(by[n]["metrics"].get(m)) for n in names)] for m in first["metrics"]]
    rows += [[not_found_label(k), *(fmt(by[n]["not_found"].get(k)) for n in names)]
             for k in _not_found_keys(first["not_found"])]
    rows += [[latency_label(p), *(fmt(by[n]["latency_ms"].get(p), 1) for n in names)] for p, _ in LATENCY_PERCENTILES]
    return rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left, the others right-aligned, cells shown as given."""
    from tabulate import tabulate

    return tabulate([list(r) for r in rows], headers=list(header), tablefmt=TABLE_FORMAT, disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(header) - 1))


def headline(data: Mapping[str, Any]) -> str:
    """One line: the file, its questions (answerable, unanswerable, unjudged, skipped) and k."""
    return (f"{data.get('dataset')} ({data.get('format')}): {data.get('n_questions')} 问题 questions, "
            f"{data.get('n_answerable')} 可回答 answerable, {data.get('n_unanswerable')} 无答案 unanswerable"
            + (f", {data['n_unjudged']} 无法判定 unjudged" if data.get("n_unjudged") else "")
            + (f", {data['n_skipped']} 跳过 skipped" if data.get("n_skipped") else "")
            + f" · k={data.get('k')}")


def summary_text(data: Mapping[str, Any]) -> str:
    """The text summary of a ``to_dict()`` object (also of one read back from a ``--json`` file)."""
    by = data.get("by_retriever") or {}
    names = list(by)
    cfg = data.get("config") or {}
    lines = [headline(data)]
    if cfg.get("corpus_description"):
        lines.append(f"语料 corpus: {cfg['corpus_description']}")
    if not names:
        lines.append("没有结果 no results")
    else:
        lines += ["", text_table(["指标 figure", *names], figure_rows(by))]
        if len({by[n]["n_questions"] for n in names}) > 1:
            lines.append("(各检索器的问题数不同 retrievers ran on different numbers of questions: "
                         + ", ".join(f"{n} {by[n]['n_questions']}" for n in names) + ")")
        outcomes = by[names[0]].get("outcomes") or {}
        failing = [f"{outcome_label(o)} {outcomes[o]}" for o in OUTCOMES if o != "ok" and outcomes.get(o)]
        if failing:
            lines.append(f"\n判定 outcomes ({names[0]}): " + ", ".join(failing))
    if data.get("interrupted"):
        lines.append("\n⚠ 评估被中断，结果只含已完成的问题 · interrupted: the figures cover only the questions done "
                     "before the stop")
    warns = data.get("warnings") or []
    if warns:
        lines.append(f"\n{len(warns)} 条警告 warning(s):")
        lines += [f"  {w}" for w in warns[:MAX_WARNINGS_SHOWN]]
        if len(warns) > MAX_WARNINGS_SHOWN:
            lines.append(f"  … 另有 {len(warns) - MAX_WARNINGS_SHOWN} 条 and {len(warns) - MAX_WARNINGS_SHOWN} more "
                         "(see the JSON output or --report)")
    return "\n".join(lines)


def _signed(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}f}" if isinstance(value, float) else f"{value:+d}"


def comparison_text(data: Mapping[str, Any]) -> str:
    """The text form of a :class:`~qa.evaluation.compare.Comparison` ``to_dict()``."""
    a, b = data["a"], data["b"]
    lines = [f"A: {a['dataset']} [{a['retriever']}] {a.get('path') or ''}".rstrip(),
             f"B: {b['dataset']} [{b['retriever']}] {b.get('path') or ''}".rstrip(),
             f"{data['n_paired']} 道可回答的问题按 id 配对 answerable questions paired by id", ""]
    rows = [[metric_label(m), fmt(v["a"]), fmt(v["b"]), _signed(v["diff"]),
             (fmt(v["p_value"], 4) if v["p_value"] is not None else "—") + (" *" if v["significant"] else "")]
            for m, v in data["metrics"].items()]
    rows += [[not_found_label(k), fmt(v["a"]), fmt(v["b"]), _signed(v["diff"]), ""]
             for k, v in data["not_found"].items()]
    rows += [[latency_label(k), fmt(v["a"], 1), fmt(v["b"], 1), _signed(v["diff"], 1), ""]
             for k, v in data["latency_ms"].items()]
    lines.append(text_table(["指标 figure", "A", "B", "B − A", "p"], rows))
    lines.append(f"\np: {data['test_description']}; * p ≤ {data['alpha']} 显著 significant")
    lines += [f"警告 warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> Any:
    """The Jinja2 environment: templates from the package, every value escaped and formatted by ``fmt``."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("qa.evaluation", "templates"), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined, finalize=lambda v: v if isinstance(v, str) else fmt(v),
        trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    return env


def _failure_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    """Per retriever: its failures (the first :data:`HTML_MAX_ROWS`) as table cells."""
    out = []
    for name, res in report.results.items():
        failures = res.failures
        rows = []
        for r in failures[:HTML_MAX_ROWS]:
            d = r.to_dict()
            rows.append([outcome_label(r.outcome), r.id, r.question, d["rank"], d["relevant_breadcrumb"],
                         d["top_passage_id"], d["top_breadcrumb"], r.top_scores.get("dense"),
                         r.top_scores.get("lexical"), r.top_scores.get("fused"), r.found, r.confidence])
        out.append({"name": name, "n_failures": len(failures), "n_rows": len(res.rows), "rows": rows})
    return out


def report_html(report: EvaluationReport, data: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """The report's ``index.html``: a self-contained page (no script, nothing from the network)."""
    by = data["by_retriever"]
    names = list(by)
    rows = figure_rows(by) if names else []
    n_metrics = len(by[names[0]]["metrics"]) if names else 0
    reliability = {n: by[n]["not_found"].get("reliability") or [] for n in names}
    return _environment().get_template("report.html.j2").render(
        data=data, names=names, metric_rows=rows[:n_metrics], other_rows=rows[n_metrics:],
        reliability=reliability, headline=headline(data),
        plots=[(name, base64.b64encode(png).decode("ascii")) for name, png in plots.items()],
        failures=_failure_rows(report), max_rows=HTML_MAX_ROWS,
        outcome_help=[(OUTCOME_LABELS[o], OUTCOME_HELP[o]) for o in OUTCOMES if o != "ok"],
        config_json=json.dumps(data["config"], ensure_ascii=False, indent=2),
    )
