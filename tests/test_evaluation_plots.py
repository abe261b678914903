"""qa.evaluation.plots: the report's PNG plots, including the reliability plot."""

from __future__ import annotations

import pytest
from evaluation_helpers import report_of, row, toy_report

from qa.evaluation import plots as plots_module
from qa.evaluation.plots import METRICS_PLOT, RANK_PLOT, RELIABILITY_PLOT, label, plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_per_report():
    out = plots(toy_report())
    assert set(out) == {RANK_PLOT, RELIABILITY_PLOT, METRICS_PLOT}
    assert all(png.startswith(PNG) for png in out.values())
    single = plots(report_of({"hybrid": [row("a1", ("p1",), ("p1",))]}))
    assert set(single) == {RANK_PLOT, RELIABILITY_PLOT}
    assert plots(report_of({})) == {}


def test_reliability_plot_draws_the_diagonal_and_counts(monkeypatch):
    drawn = {}
    from matplotlib.axes import Axes

    real_plot, real_annotate = Axes.plot, Axes.annotate

    def spy_plot(self, *args, **kwargs):
        drawn.setdefault("lines", []).append((list(args[0]), list(args[1])))
        return real_plot(self, *args, **kwargs)

    def spy_annotate(self, text, *args, **kwargs):
        drawn.setdefault("counts", []).append(text)
        return real_annotate(self, text, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy_plot)
    monkeypatch.setattr(Axes, "annotate", spy_annotate)
    rep = report_of({"hybrid": [row("a1", ("p1",), ("p1",), confidence=0.95),
                                row("a2", ("p1",), ("p1",), confidence=0.91),
                                row("u1", (), ("p1",), found=False, confidence=0.2)]})
    assert plots_module.reliability_plot(rep).startswith(PNG)
    assert drawn["lines"][0] == ([0, 1], [0, 1])  # the diagonal
    assert drawn["lines"][1] == ([0.2, pytest.approx(0.93)], [0.0, 1.0])  # one point per non-empty bin
    assert drawn["counts"] == ["1", "2"]


def test_labels_are_bilingual_only_with_a_chinese_font(monkeypatch):
    monkeypatch.setattr(plots_module, "cjk_font", lambda: "Noto Sans CJK SC")
    assert label("排名", "rank") == "排名 rank"
    monkeypatch.setattr(plots_module, "cjk_font", lambda: None)
    assert label("排名", "rank") == "rank"  # no empty boxes where the glyphs would be


def test_a_first_report_in_a_fresh_home_writes_only_under_the_cache_folder(tmp_path):
    """matplotlib's font cache lands in the assistant's cache folder, not in ~/.cache/matplotlib or ~/.config."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                                                              "QA_CACHE_DIR")}
    env.update(HOME=str(home), PYTHONPATH=f"{root}{os.pathsep}{root / 'tests'}")
    code = "from evaluation_helpers import toy_report; import sys; toy_report().write(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "report")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = [p.relative_to(home) for p in home.rglob("*") if p.is_file()]
    assert written and all(p.parts[:2] == (".cache", "qa-assistant") for p in written), written
    assert (tmp_path / "report" / "reliability.png").is_file()
