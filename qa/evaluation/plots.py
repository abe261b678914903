"""The report's plots as PNG bytes: rank distribution, metrics per retriever, confidence reliability.

matplotlib's object API only (no pyplot: no global state, no display). Titles and
axis labels are bilingual when a font with Chinese glyphs is installed (Noto Sans
CJK, WenQuanYi, Source Han, SimHei, …); without one, the Chinese half is left out
rather than drawn as empty boxes (the HTML report's captions stay bilingual).
"""

from __future__ import annotations

import io
import os
import sys
from functools import lru_cache
from typing import Any

import numpy as np

from .labels import metric_label
from .results import EvaluationReport

#: File name of the plot of where the first relevant passage was ranked.
RANK_PLOT = "ranks.png"
#: File name of the metrics-per-retriever plot (only with several retrievers).
METRICS_PLOT = "metrics.png"
#: File name of the reliability plot of the not-found confidence.
RELIABILITY_PLOT = "reliability.png"
#: Size of the report's plots, in inches, and their resolution.
PLOT_SIZE = (7.0, 3.2)
RELIABILITY_SIZE = (5.0, 4.2)
PLOT_DPI = 110
#: Font size of the counts written on bars and points.
BAR_LABEL_SIZE = 7
#: Room above the tallest bar of the log-scale plot (a factor), for its count label.
LOG_HEADROOM = 8
#: Font families with Chinese glyphs, tried in this order.
CJK_FONTS: tuple[str, ...] = ("Noto Sans CJK SC", "Noto Sans SC", "Noto Sans CJK JP", "Source Han Sans SC",
                              "WenQuanYi Micro Hei",
                              "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")
#: Legend beside the plot, where it can never hide a bar.
_LEGEND: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False}


def _keep_matplotlib_cache_in_ours() -> None:
    """matplotlib's font cache goes under the assistant's cache folder unless MPLCONFIGDIR says otherwise.

    Without this, the first report in a fresh HOME writes ``~/.cache/matplotlib`` and
    ``~/.config/matplotlib``; only the cache folder is ours to write.
    """
    if "matplotlib" not in sys.modules and not os.environ.get("MPLCONFIGDIR"):
        from ..config import Settings

        os.environ["MPLCONFIGDIR"] = str(Settings().cache_dir / "matplotlib")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed font family of :data:`CJK_FONTS`, or ``None``."""
    _keep_matplotlib_cache_in_ours()
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def label(zh: str, en: str) -> str:
    """A bilingual plot label (``"排名 rank"``), or the English half when no Chinese font is installed."""
    return f"{zh} {en}" if cjk_font() else en


def _figure(size: tuple[float, float]) -> Any:
    _keep_matplotlib_cache_in_ours()
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return buf.getvalue()


def _with_font(draw: Any) -> bytes:
    """Build and render a figure with the Chinese font (when there is one) as the default family."""
    _keep_matplotlib_cache_in_ours()
    from matplotlib import rc_context

    font = cjk_font()
    with rc_context({"font.family": [font, "DejaVu Sans"]} if font else {}):
        return _png(draw())


def rank_plot(report: EvaluationReport) -> bytes:
    """Bars: answerable questions by rank of their first relevant passage, per retriever (log scale)."""
    names = report.retrievers
    width = 0.8 / len(names)

    def draw() -> Any:
        fig = _figure(PLOT_SIZE)
        ax = fig.add_subplot()
        labels = list(report.first.rank_counts())
        x = np.arange(len(labels))
        for i, name in enumerate(names):
            counts = report.results[name].rank_counts()
            values = [counts.get(lab, 0) for lab in labels]
            bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=name)
            ax.bar_label(bars, labels=[str(c) if c else "" for c in values], fontsize=BAR_LABEL_SIZE,
                         rotation=90 if len(names) > 1 else 0, padding=2)
        ax.set_xticks(x, [label("无", "none") if lab == "none" else lab for lab in labels])
        ax.set_xlabel(label("首个相关段落的排名（无 = 不在前 k）", "rank of the first relevant passage (none = not in the top k)"))
        # Rank 1 usually dwarfs the rest: a log scale (linear near zero) keeps the tail readable.
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, max(max(r.rank_counts().values()) for r in report.results.values()) * LOG_HEADROOM + 1)
        ax.set_ylabel(label("可回答的问题（对数）", "answerable questions (log scale)"))
        ax.set_title(f"{report.dataset}: " + label("排名分布", "rank distribution"))
        if len(names) > 1:
            ax.legend(**_LEGEND)
        return fig

    return _with_font(draw)


def metrics_plot(report: EvaluationReport) -> bytes:
    """Grouped bars: every metric, one bar per retriever."""
    names = report.retrievers
    width = 0.8 / len(names)
    metric_keys = list(report.first.metrics)

    def draw() -> Any:
        fig = _figure(PLOT_SIZE)
        ax = fig.add_subplot()
        x = np.arange(len(metric_keys))
        for i, name in enumerate(names):
            values = [report.results[name].metrics.get(m) or 0.0 for m in metric_keys]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=name)
        ax.set_xticks(x, [metric_label(m) if cjk_font() else metric_label(m).split(" ")[0] for m in metric_keys],
                      rotation=20 if cjk_font() else 0, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label("得分", "score"))
        ax.set_title(f"{report.dataset}: " + label("各检索器的指标", "metrics per retriever"))
        ax.legend(**_LEGEND)
        return fig

    return _with_font(draw)


def reliability_plot(report: EvaluationReport) -> bytes:
    """Predicted confidence against the observed share answered, per bin and retriever, with the diagonal.

    Each point is a bin of :meth:`RetrieverResult.reliability`, sized and labelled by
    its number of questions; points on the dashed diagonal are perfectly calibrated.
    """
    names = report.retrievers

    def draw() -> Any:
        fig = _figure(RELIABILITY_SIZE)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], linestyle="--", color="#888", linewidth=1,
                label=label("完美校准", "perfectly calibrated"))
        for name in names:
            res = report.results[name]
            table = [b for b in res.reliability() if b["count"]]
            if not table:
                continue
            xs = [b["mean_predicted"] for b in table]
            ys = [b["observed"] for b in table]
            counts = [b["count"] for b in table]
            ece = res.not_found["ece"]
            line = ax.plot(xs, ys, marker="o", linewidth=1, label=f"{name} (ECE {ece:.3f})")[0]
            ax.scatter(xs, ys, s=[20 + 6 * c for c in counts], color=line.get_color(), alpha=0.35)
            for x, y, c in zip(xs, ys, counts):
                ax.annotate(str(c), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=BAR_LABEL_SIZE)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.1)
        ax.set_xlabel(label("预测置信度", "predicted confidence"))
        ax.set_ylabel(label("实际：可回答且首位相关", "observed: answerable, top hit relevant"))
        ax.set_title(f"{report.dataset}: " + label("置信度可靠性（数字 = 题数）", "reliability (numbers = questions)"))
        ax.legend(**_LEGEND)
        return fig

    return _with_font(draw)


def plots(report: EvaluationReport) -> dict[str, bytes]:
    """Every plot of the report, by file name: ranks, reliability and (several retrievers) metrics."""
    if not report.results:
        return {}
    out = {RANK_PLOT: rank_plot(report), RELIABILITY_PLOT: reliability_plot(report)}
    if len(report.retrievers) > 1:
        out[METRICS_PLOT] = metrics_plot(report)
    return out
