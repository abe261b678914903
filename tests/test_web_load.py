"""The load test in CI, short and bounded: 20 concurrent ``/api/ask`` clients for a few seconds against a
server on a free local port (the essay on the fake embedder), through ``benchmarks/load.py``'s own
:func:`run`. No connection may be dropped (HTTP 503 "busy, retry" is handled, not dropped) and every
HTTP 200 must be a valid answer to the question asked. Slow lane (a server): under 30 s.

The figures (p50, p95, memory) are printed by ``python benchmarks/load.py``, not asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 20
SECONDS = 5
#: A request with no answer after this long counts as dropped (keeps the whole test under 30 s).
REQUEST_TIMEOUT_S = 15


def _load_module():
    spec = importlib.util.spec_from_file_location("load_benchmark", ROOT / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load = _load_module()


@pytest.fixture
def server(fake_settings):
    from qa import Assistant
    from qa.web.server import create_app, start

    running = start(create_app(Assistant(settings=fake_settings)))
    yield running
    running.close()


@pytest.mark.slow
def test_concurrent_clients_get_answers_or_busy_never_a_dropped_connection(server):
    port = int(server.url.rsplit(":", 1)[1])
    tally = load.run("127.0.0.1", port, CLIENTS, SECONDS, k=5, timeout_s=REQUEST_TIMEOUT_S)
    print(f"load: {len(tally.latencies)} answered, {tally.busy} busy, {tally.errors or 'no errors'}")
    assert tally.dropped == 0, tally.errors
    assert tally.invalid == 0, tally.errors
    assert not tally.errors, tally.errors  # no status but 200 and 503
    assert len(tally.latencies) >= CLIENTS  # every client was answered at least once on average


@pytest.mark.parametrize("payload, ok", [
    ({"question": "问", "found": True, "hits": [{"rank": 1, "passage_id": "p:1", "text": "答"}]}, True),
    ({"question": "别的问题", "found": True, "hits": [{"rank": 1, "passage_id": "p:1", "text": "答"}]}, False),
    ({"question": "问", "found": True, "hits": []}, False),
    ({"question": "问", "found": "yes", "hits": [{"rank": 1, "passage_id": "p:1", "text": "答"}]}, False),
    ({"question": "问", "found": True, "hits": [{"rank": 2, "passage_id": "p:1", "text": "答"}]}, False),
    ({"error": "busy"}, False),
])
def test_what_counts_as_a_valid_answer(payload, ok):
    assert load.valid_answer(json.dumps(payload, ensure_ascii=False).encode(), "问", 1) is ok
    assert load.valid_answer(b"not json", "问", 1) is False
