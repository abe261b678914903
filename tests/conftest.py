"""Shared fixtures: offline, and one assistant over the bundled essay per test session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

# No per-example deadline: on shared, loaded machines one example can take a second of waiting
# for a core, and speed belongs in benchmarks/, not in assertions.
hypothesis_settings.register_profile("qa", deadline=None)
hypothesis_settings.load_profile("qa")

SHARED = Path(__file__).resolve().parents[2] / "shared"
ESSAY_DEV = SHARED / "eval" / "essay_dev.jsonl"
CMRC_TRIAL = SHARED / "eval" / "cmrc2018_trial.json"


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Settings with a private index folder; the model cache is the user's (converted once)."""
    from qa import Settings

    return Settings(index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def embedder(settings):
    from qa.embed import SentenceEmbedder

    return SentenceEmbedder(settings)


@pytest.fixture(scope="session")
def essay(settings, embedder):
    """The assistant over the bundled essay."""
    from qa import Assistant

    return Assistant(settings=settings, embedder=embedder)


@pytest.fixture()
def fake_settings(tmp_path):
    """Settings for the fast lane: the model-free fake embedder, private index and cache folders."""
    from qa import Settings

    return Settings(model="fake", index_dir=tmp_path / "index", cache_dir=tmp_path / "cache", null_bank_limit=40)


@pytest.fixture()
def fake_embedder():
    from qa.embed import FakeEmbedder

    return FakeEmbedder()


#: Fixtures that load the real model (or convert it): a test using any of them is in the slow lane.
REAL_MODEL_FIXTURES = frozenset({"embedder", "essay", "model_dir", "st_model", "reference", "reference_tokenize"})


#: Markers of the slow lane: the real model, a browser, the optional engines (Milvus Lite, Ray).
SLOW_LANE_MARKERS = ("slow", "browser", "scale")


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true",
                     help="run both lanes: the fast one and the slow one (real model, app, browser); CI does")


def pytest_collection_modifyitems(config, items):
    """Fast lane by default: tests of the real model, the app, a browser or the scale engines run with --all or -m."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--all") or config.option.markexpr:
        return
    slow = [i for i in items if any(i.get_closest_marker(m) for m in SLOW_LANE_MARKERS)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i not in set(slow)]
