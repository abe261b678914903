"""Load test: N concurrent clients asking ``POST /api/ask`` for T seconds on 127.0.0.1.

    python benchmarks/load.py [--clients 50] [--seconds 60]            # starts its own `qa serve`, then stops it
    python benchmarks/load.py --url http://127.0.0.1:7860 --pid PID    # against a running server

Each client is a thread with its own keep-alive connection (stdlib http.client),
asking the questions below in turn until the time is up; it stops by itself
(both N and T are bounded). Prints completed requests (HTTP 200 with a valid
answer to the question asked), errors (dropped connections and timeouts, HTTP
statuses other than 200 and 503, 200s that are not a valid answer), 503s ("busy,
retry": handled, not errors), p50/p95 latency of the answered ones, and the
server's RSS before and after (from /proc, Linux). ``tests/test_web_load.py`` runs
:func:`run` for a few seconds in CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = (
    "社区工作者的待遇怎么保障？",
    "如何发挥党建引领基层社会治理的作用？",
    "社區黨組織如何為群眾服務？",
    "How can party building be integrated with community governance?",
    "街道党组织的主责主业是什么？",
)
MAX_CLIENTS = 500
MAX_SECONDS = 600
#: Per-request timeout: a request slower than this counts as an error.
REQUEST_TIMEOUT_S = 120
#: How long a server we start may take to answer /api/health (model load, maybe an index build).
START_TIMEOUT_S = 600


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def load_average() -> str:
    """The machine's 1-minute load average (Linux), for reading the figures on a shared machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def healthy(host: str, port: int) -> bool:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/api/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def start_server(port: int) -> subprocess.Popen:
    """``qa serve`` on ``port`` in a child process; returns once it answers (its ready time is printed)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not healthy("127.0.0.1", port):
        if proc.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
            proc.kill()
            raise SystemExit(f"load: the server did not start (exit code {proc.poll()})")
        time.sleep(0.2)
    print(f"server ready (HTTP 200 on /api/health) {time.perf_counter() - started:.1f} s after start")
    return proc


class Tally:
    """What the clients saw: latencies of valid answers, 503s, and errors by kind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.busy = 0
        self.dropped = 0
        """Requests that got no HTTP response: connection reset or closed, refused, timed out."""
        self.invalid = 0
        """HTTP 200 responses that are not a valid answer to the question asked."""

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def refused(self) -> None:
        with self.lock:
            self.busy += 1

    def lost(self, kind: str) -> None:
        with self.lock:
            self.dropped += 1
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def wrong(self) -> None:
        with self.lock:
            self.invalid += 1
            self.errors["invalid answer"] = self.errors.get("invalid answer", 0) + 1


def valid_answer(payload: bytes, question: str, k: int) -> bool:
    """Whether ``payload`` is ``Answer.to_dict()`` for ``question``: its k hits ranked 1..k, each with a passage
    id and text (the load corpus has more than k passages)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(data, dict) or data.get("question") != question or not isinstance(data.get("found"), bool):
        return False
    hits = data.get("hits")
    return (isinstance(hits, list) and len(hits) == k
            and all(isinstance(h, dict) and h.get("rank") == i and h.get("passage_id") and h.get("text")
                    for i, h in enumerate(hits, 1)))


def client(host: str, port: int, k: int, stop_at: float, offset: int, tally: Tally,
           timeout_s: float = REQUEST_TIMEOUT_S) -> None:
    conn: http.client.HTTPConnection | None = None
    n = offset
    while time.monotonic() < stop_at:
        question = QUESTIONS[n % len(QUESTIONS)]
        body = json.dumps({"question": question, "k": k}).encode()
        n += 1
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
            conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status == 200:
                if valid_answer(payload, question, k):
                    tally.ok(time.perf_counter() - t0)
                else:
                    tally.wrong()
            elif response.status == 503:
                tally.refused()
                time.sleep(float(response.getheader("Retry-After") or 1) / 10)  # back off a little
            else:
                tally.error(f"HTTP {response.status}")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            tally.lost(type(exc).__name__)
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def run(host: str, port: int, clients: int, seconds: float, k: int,
        timeout_s: float = REQUEST_TIMEOUT_S) -> Tally:
    """``clients`` threads asking for ``seconds`` (a request slower than ``timeout_s`` is dropped); what they saw."""
    tally = Tally()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(host, port, k, stop_at, i, tally, timeout_s), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds + timeout_s + 5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return tally


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help=f"concurrent clients (1..{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=60, help=f"duration (1..{MAX_SECONDS})")
    parser.add_argument("--runs", type=int, default=1, help="repeat the run (RSS growth over runs), 1..5")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--url", help="a running server (default: start `qa serve` on a free port)")
    parser.add_argument("--pid", type=int, help="the running server's process id, for its RSS")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= MAX_CLIENTS and 1 <= args.seconds <= MAX_SECONDS and 1 <= args.runs <= 5):
        parser.error(f"--clients 1..{MAX_CLIENTS}, --seconds 1..{MAX_SECONDS}, --runs 1..5")
    proc = None
    if args.url:
        parsed = urlparse(args.url)
        host, port, pid = parsed.hostname or "127.0.0.1", parsed.port or 80, args.pid
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("the load test runs against 127.0.0.1 only")
    else:
        sys.path.insert(0, str(ROOT))
        from qa.web.server import free_port

        host, port = "127.0.0.1", free_port()
        proc = start_server(port)
        pid = proc.pid
    try:
        for run_no in range(1, args.runs + 1):
            before = rss_mb(pid) if pid else None
            load_before = load_average()
            started = time.perf_counter()
            tally = run(host, port, args.clients, args.seconds, args.k)
            wall = time.perf_counter() - started
            after = rss_mb(pid) if pid else None
            lat = sorted(tally.latencies)
            errors = sum(tally.errors.values())
            rss = f"{before:.0f} → {after:.0f} MB" if before and after else "n/a (give --pid)"
            print(f"run {run_no}: {args.clients} clients × {args.seconds:g} s ({wall:.1f} s wall): "
                  f"completed {len(lat)}, errors {errors} {tally.errors or ''} (dropped {tally.dropped}, "
                  f"invalid {tally.invalid}), 503 busy {tally.busy}, "
                  f"p50 {percentile(lat, 50) * 1000:.0f} ms, p95 {percentile(lat, 95) * 1000:.0f} ms, "
                  f"{len(lat) / wall:.1f} answers/s; server RSS {rss}; load average {load_before} → {load_average()}")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
