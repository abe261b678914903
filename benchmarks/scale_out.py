"""Scaling out (issue 15): Milvus Lite parity and latency next to the embedded store; Ray embedding.

    python benchmarks/scale_out.py [--parts parity latency ray ray-read] [--datasets cmrc drcd]
                                   [--latency-passages 10000] [--ray-passages 1000] [--ray-files 200]

Each measurement runs in its own child process (``--worker ...``), so a crash of one
(out of memory, a milvus-lite or Ray failure) is printed with its exit status and the
tail of its stderr, and the other parts still run. Parts:

* ``parity``: hybrid hit@1 / mrr@10 and not-found figures through ``qa.evaluate``
  (the same path as ``qa eval --store milvus``) for the embedded and the Milvus Lite
  store, the bundled model by default (passage vectors come from the user's
  embedding cache), and how many questions get the same top passage and verdict.
* ``latency``: per-question search time beyond question encoding (``qa.search.search``
  with the vector given) on the scale benchmark's corpus (:mod:`corpus_gen`), fake
  embedder, each store.
* ``ray``: Ray Data embedding of N passages (bundled model by default) in a local pool
  against one process: max abs vector difference, wall times, ``ray.init`` and
  per-job start-up (actor + model load), one actor's throughput, and the projection
  for N workers (start-up + passages / (N x one worker's rate)).
* ``ray-read``: reading and splitting N files (the essay as text, web page, Word and PDF,
  copied into folders) in Ray tasks (``qa index --ray``'s :func:`read_corpus`) against one
  process (``load_corpus`` + ``split_corpus``): wall times, a first and a second Ray run
  (the first starts the workers), and whether documents and passages are identical.
Needs the scale extra.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = ROOT.parent / "shared" / "eval"
DATASETS = {"cmrc": SHARED / "cmrc2018_trial.json", "drcd": SHARED / "drcd_test.json"}
RESULT = "RESULT "


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100)) if values else float("nan")


# ----------------------------------------------------------------------------------------------
# workers (each in its own process; the last stdout line is RESULT + JSON)


def worker_parity(dataset: str, store: str, model: str, work: Path) -> dict[str, Any]:
    from qa import Settings, evaluate

    settings = Settings(model=model, index_dir=work / f"parity-{dataset}-{store}", store=store,
                        milvus_uri=str(work / f"parity-{dataset}.db"))
    started = time.perf_counter()
    report = evaluate(DATASETS[dataset], k=10, retrievers=("hybrid",), settings=settings, progress=False)
    result = report.results["hybrid"]
    d = result.to_dict(per_question=False)
    return {"metrics": {k: d["metrics"][k] for k in ("hit@1", "mrr@10")}, "n_answerable": d["n_answerable"],
            "n_questions": d["n_questions"],
            "not_found": {k: d["not_found"][k] for k in ("unanswerable", "flagged_unanswerable", "answerable_flagged")},
            "top1": {r.id: (r.ranked_ids[0] if r.ranked_ids else None) for r in result.rows},
            "found": {r.id: r.found for r in result.rows},
            "elapsed_s": round(time.perf_counter() - started, 1), "peak_mb": round(_peak_mb())}


def worker_latency(store: str, n: int, n_questions: int, work: Path) -> dict[str, Any]:
    import corpus_gen

    from qa import Assistant, Settings
    from qa.embed import FakeEmbedder
    from qa.normalize import to_simplified
    from qa.search import search

    corpus = corpus_gen.make_corpus(n)
    settings = Settings(model="fake", index_dir=work / f"latency-{store}-{n}", cache_dir=work / "cache", store=store,
                        milvus_uri=str(work / f"latency-{n}.db"), null_bank_limit=40)
    embedder = FakeEmbedder()
    started = time.perf_counter()
    assistant = Assistant(corpus.documents, settings, embedder=embedder)
    build = time.perf_counter() - started
    questions = corpus.questions[:: max(1, len(corpus.questions) // n_questions)][:n_questions]
    texts = [q for q, _, _ in questions]
    vectors = embedder.encode_questions([to_simplified(q) for q in texts])
    search(assistant.index, texts[0], vectors[0], settings, k=10, legs=assistant.legs)  # warm-up
    times, cpu, hits = [], [], 0
    for (q, gold, _), v in zip(questions, vectors):
        t, c = time.perf_counter(), time.process_time()
        answer = search(assistant.index, q, v, settings, k=10, legs=assistant.legs, profile=assistant.profile)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)  # this process only (Milvus Lite serves from its own)
        hits += gold in [h.passage_id for h in answer.hits]
    size = assistant.index.size
    assistant.index.close()
    return {"passages": size, "questions": len(times), "p50_ms": round(_pct(times, 0.5), 2),
            "p95_ms": round(_pct(times, 0.95), 2), "cpu_p50_ms": round(_pct(cpu, 0.5), 2),
            "cpu_p95_ms": round(_pct(cpu, 0.95), 2), "build_s": round(build, 1), "hit@10_gold": round(hits / len(times), 3),
            "peak_mb": round(_peak_mb()), "loadavg": os.getloadavg()[0]}


def _fresh_cache(work: Path, name: str) -> Path:
    """A cache folder with no vectors (so every text is embedded) sharing the user's converted model."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    from qa import Settings

    models = Path(Settings().cache_dir) / "models"
    if models.is_dir() and not (folder / "models").exists():
        (folder / "models").symlink_to(models)
    return folder


def worker_ray(n: int, model: str, work: Path) -> dict[str, Any]:
    import numpy as np

    import corpus_gen
    from qa import Settings
    from qa.embed import load_embedder
    from qa.stores.ray_ingest import embed_texts, start_ray

    base, _ = corpus_gen.base_passages()
    texts = [p.text for p in base][:n]
    out: dict[str, Any] = {"passages": len(texts), "model": model}

    settings = Settings(model=model, cache_dir=_fresh_cache(work, "ray-single"))
    t = time.perf_counter()
    single = load_embedder(settings).encode_passages(texts)
    out["single_process_s"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    start_ray(None, num_cpus=2)
    out["ray_init_s"] = round(time.perf_counter() - t, 2)

    def run(name: str, items: list[str], actors: int) -> tuple[np.ndarray, float]:
        s = settings.with_(cache_dir=_fresh_cache(work, name))
        t0 = time.perf_counter()
        v = embed_texts(items, s, actors=actors)
        return v, time.perf_counter() - t0

    _, out["startup_job_s"] = run("ray-startup", ["预热一下。", "再来一句。"], 1)  # actor start + model load
    one, out["one_actor_s"] = run("ray-one", texts, 1)
    two, out["two_actors_s"] = run("ray-two", texts, 2)
    out["max_abs_diff_one_actor"] = float(np.abs(one - single).max())
    out["max_abs_diff_two_actors"] = float(np.abs(two - single).max())
    work_s = max(out["one_actor_s"] - out["startup_job_s"], 1e-6)
    out["one_worker_passages_per_s"] = round(len(texts) / work_s, 2)
    out["single_process_passages_per_s"] = round(len(texts) / out["single_process_s"], 2)
    out["peak_mb"] = round(_peak_mb())
    out["loadavg"] = os.getloadavg()[0]
    for k in ("startup_job_s", "one_actor_s", "two_actors_s"):
        out[k] = round(out[k], 2)
    return out


def worker_ray_read(n: int, work: Path) -> dict[str, Any]:
    import shutil

    sys.path.insert(0, str(ROOT / "tests"))
    from essay_formats import write_docx, write_html, write_pdf
    from qa import Settings
    from qa.config import DEFAULT_CORPUS
    from qa.corpus import load_corpus
    from qa.passages import split_corpus
    from qa.stores.ray_ingest import read_corpus, start_ray

    originals = work / "ray-read-originals"
    originals.mkdir(parents=True, exist_ok=True)
    made = [shutil.copyfile(DEFAULT_CORPUS, originals / "essay.txt"), write_html(originals / "essay.html"),
            write_docx(originals / "essay.docx"), write_pdf(originals / "essay.pdf")]
    folder = work / f"ray-read-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(n):  # 4 formats per sub-folder: the ids repeat across folders, as in a real corpus
        source = Path(made[i % 4])
        target = folder / f"part{i // 4:04d}" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    settings = Settings(model="fake")
    out: dict[str, Any] = {"files": n}
    t = time.perf_counter()
    docs = load_corpus([folder], settings)
    passages = split_corpus(docs, settings)
    out["single_process_s"] = round(time.perf_counter() - t, 2)
    out["passages"] = len(passages)
    t = time.perf_counter()
    start_ray(None, num_cpus=2)
    out["ray_init_s"] = round(time.perf_counter() - t, 2)
    for run in ("first", "second"):
        t = time.perf_counter()
        ray_docs, split = read_corpus([folder], settings)
        ray_passages = split(ray_docs, settings)
        out[f"ray_{run}_s"] = round(time.perf_counter() - t, 2)
    out["identical"] = ray_docs == docs and ray_passages == passages
    out["peak_mb"] = round(_peak_mb())
    out["loadavg"] = os.getloadavg()[0]
    return out


# ----------------------------------------------------------------------------------------------
# the driver


def _run(args: list[str], label: str, saved: Path | None = None) -> dict[str, Any] | None:
    """A worker in a child process; its result, or None after printing why it failed. A result saved
    at ``saved`` by an earlier run in the same work folder is reused."""
    if saved is not None and saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith(RESULT)]
    if proc.returncode == 0 and lines:
        if saved is not None:
            saved.write_text(lines[-1][len(RESULT):], encoding="utf-8")
        return json.loads(lines[-1][len(RESULT):])
    code = proc.returncode
    why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
    if code == -signal.SIGKILL:
        why += " (the kernel's OOM killer, or a kill from outside)"
    tail = "\n    ".join((proc.stderr.strip().splitlines() or ["(no stderr)"])[-8:])
    print(f"  {label}: FAILED after {time.perf_counter() - started:.0f} s, {why}\n    {tail}", flush=True)
    return None


def part_parity(datasets: list[str], model: str, work: Path, stores: list[str]) -> None:
    print(f"\n== parity: hybrid, k=10, model {model}; embedded (faiss) vs Milvus Lite", flush=True)
    print("dataset  store    hit@1   mrr@10  answerable flagged  unanswerable flagged  time", flush=True)
    for name in datasets:
        results = {}
        for store in stores:
            r = _run(["parity", name, store, model, str(work)], f"{name} {store}", work / f"parity-{name}-{store}.json")
            if r is None:
                continue
            results[store] = r
            nf, m = r["not_found"], r["metrics"]
            print(f"{name:8s} {store:7s} {m['hit@1']:.4f}  {m['mrr@10']:.4f}  "
                  f"{nf['answerable_flagged']}/{r['n_answerable']} ({nf['answerable_flagged'] / max(r['n_answerable'], 1):.1%})"
                  f"  {nf['flagged_unanswerable']}/{nf['unanswerable']}  {r['elapsed_s']:.0f} s, peak {r['peak_mb']} MB",
                  flush=True)
        if len(results) == 2:
            a, b = results["faiss"], results["milvus"]
            same_top = sum(a["top1"][q] == b["top1"].get(q) for q in a["top1"])
            same_found = sum(a["found"][q] == b["found"].get(q) for q in a["found"])
            print(f"{name:8s} Δhit@1 {b['metrics']['hit@1'] - a['metrics']['hit@1']:+.4f}, "
                  f"Δmrr@10 {b['metrics']['mrr@10'] - a['metrics']['mrr@10']:+.4f}; same top passage "
                  f"{same_top}/{len(a['top1'])}, same verdict {same_found}/{len(a['found'])}", flush=True)


def part_latency(n: int, n_questions: int, work: Path, stores: list[str]) -> None:
    print(f"\n== search latency beyond question encoding: {n:,} passages (corpus_gen), fake embedder", flush=True)
    for store in stores:
        r = _run(["latency", store, str(n), str(n_questions), str(work)], f"latency {store}",
                 work / f"latency-{n}-{store}.json")
        if r is not None:
            cpu = f" (this process's CPU p50 {r['cpu_p50_ms']:.1f} ms)" if "cpu_p50_ms" in r else ""
            print(f"{store:7s} p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms{cpu} ({r['passages']:,} passages, "
                  f"{r['questions']} questions; build {r['build_s']:.0f} s; gold in top 10 {r['hit@10_gold']:.3f}; "
                  f"peak {r['peak_mb']} MB; load {r['loadavg']:.1f})", flush=True)


def part_ray(n: int, model: str, work: Path) -> None:
    print(f"\n== Ray Data embedding of {n} passages, local pool (num_cpus=2), model {model}", flush=True)
    r = _run(["ray", str(n), model, str(work)], "ray")
    if r is None:
        return
    print(f"single process {r['single_process_s']:.1f} s ({r['single_process_passages_per_s']:.1f} passages/s); "
          f"ray.init {r['ray_init_s']:.1f} s; start-up of a job (actor + model load, 2 texts) {r['startup_job_s']:.1f} s\n"
          f"1 actor {r['one_actor_s']:.1f} s, 2 actors {r['two_actors_s']:.1f} s; one worker "
          f"{r['one_worker_passages_per_s']:.1f} passages/s beyond start-up; max abs difference vs one process "
          f"{r['max_abs_diff_one_actor']:.2e} (1 actor), {r['max_abs_diff_two_actors']:.2e} (2 actors); load {r['loadavg']:.1f}",
          flush=True)
    rate, start = r["one_worker_passages_per_s"], r["startup_job_s"]
    for total in (1_000_000, 10_000_000):
        cells = ", ".join(f"{w} workers {(start + total / (w * rate)) / 3600:.1f} h" for w in (1, 8, 32, 128))
        print(f"projection, {total:,} passages (start-up + passages / (N x {rate:.1f}/s)): {cells}", flush=True)


def part_ray_read(n: int, work: Path) -> None:
    print(f"\n== reading and splitting {n} files (essay as .txt/.html/.docx/.pdf) in Ray tasks, local (num_cpus=2)",
          flush=True)
    r = _run(["ray-read", str(n), str(work)], "ray-read")
    if r is not None:
        print(f"one process {r['single_process_s']:.1f} s ({r['passages']:,} passages); "
              f"ray.init {r['ray_init_s']:.1f} s; "
              f"Ray tasks {r['ray_first_s']:.1f} s (first run), {r['ray_second_s']:.1f} s (second); "
              f"documents and passages identical: {r['identical']}; load {r['loadavg']:.1f}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "parity":
            result = worker_parity(rest[0], rest[1], rest[2], Path(rest[3]))
        elif kind == "latency":
            result = worker_latency(rest[0], int(rest[1]), int(rest[2]), Path(rest[3]))
        elif kind == "ray-read":
            result = worker_ray_read(int(rest[0]), Path(rest[1]))
        else:
            result = worker_ray(int(rest[0]), rest[1], Path(rest[2]))
        print(RESULT + json.dumps(result, ensure_ascii=False), flush=True)
        return
    from qa.config import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ["parity", "latency", "ray", "ray-read"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--model", default=BUNDLED_MODEL, help="model of the parity and Ray parts (default: bundled)")
    parser.add_argument("--datasets", nargs="+", default=["cmrc", "drcd"], choices=list(DATASETS))
    parser.add_argument("--latency-passages", type=int, default=10_000)
    parser.add_argument("--latency-questions", type=int, default=200)
    parser.add_argument("--ray-passages", type=int, default=1000)
    parser.add_argument("--ray-files", type=int, default=200, help="files the ray-read part reads and splits")
    parser.add_argument("--stores", nargs="+", default=["faiss", "milvus"], choices=["faiss", "milvus"])
    parser.add_argument("--work", help="working folder (default: a new temporary one); results saved there are "
                                       "reused, so stores can be measured by separate runs and printed together")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="qa-scale-out-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}; load {os.getloadavg()[0]:.1f}", flush=True)
    for part in args.parts:
        try:
            if part == "parity":
                part_parity(args.datasets, args.model, work, args.stores)
            elif part == "latency":
                part_latency(args.latency_passages, args.latency_questions, work, args.stores)
            elif part == "ray-read":
                part_ray_read(args.ray_files, work)
            else:
                part_ray(args.ray_passages, args.model, work)
        except Exception as exc:  # a driver-side failure of one part must not hide the others
            print(f"  {part}: FAILED in the driver: {type(exc).__name__}: {exc}", flush=True)


if __name__ == "__main__":
    main()
