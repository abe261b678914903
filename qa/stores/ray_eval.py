"""Questions asked by a pool of Ray actors (``qa eval --ray [ADDRESS]``).

Each actor holds its own :class:`qa.assistant.Assistant` over the same corpus and
settings and the driver's null profile, so its answers are the driver's. It opens the
index the driver built (the embedded folder, or a Milvus server): it is given the files
and folders the driver's assistant was opened over (the index folder is named after them),
else its documents (the bundled essay, a SQuAD file's contexts), and the pool checks that
every actor's index is the driver's. A batch of questions is cut into one slice per actor
and put back in order. :class:`RaySpread` is what ``qa eval --ray`` gives :func:`qa.evaluate`
as ``spread``, for JSONL and SQuAD files alike. A Milvus Lite file opens in one process at a
time, so it cannot be shared by actors: use the embedded store or a Milvus server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..config import Retriever, Settings
from ..corpus import Document
from . import StoreError, reason_of
from .ray_ingest import start_ray

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..search import Answer


class _AskActor:
    """One actor: an assistant over the corpus, answering slices of question batches."""

    def __init__(self, corpus: list[str | Path] | list[Document], settings: Settings, profile: dict[str, Any]) -> None:
        from ..assistant import Assistant
        from ..confidence import NullProfile

        self.assistant = Assistant(corpus, settings)
        self.assistant.profile = NullProfile.from_dict(profile)  # the driver's: the same not-found decisions

    def where(self) -> str:
        return _where(self.assistant)

    def ask(self, questions: list[str], retrievers: list[str], k: int | None) -> dict[str, list[Answer]]:
        return self.assistant.ask_many_by_retriever(questions, retrievers, k)


def _where(assistant: Assistant) -> str:
    """Which index an assistant opened: its folder (embedded store) or URI (Milvus)."""
    index = assistant.index
    return str(getattr(index, "folder", None) or getattr(index, "uri", ""))


def _shareable(settings: Settings) -> None:
    if settings.store == "milvus" and not settings.milvus_uri.startswith(("http://", "https://", "tcp://")):
        raise StoreError("a Milvus Lite file opens in one process at a time, so Ray actors cannot share it; "
                         "use --ray with the embedded store or a Milvus server URI")


class RayAssistant:
    """An assistant whose ``ask_many_by_retriever`` spreads each batch over Ray actors; everything else
    (settings, documents, index, single questions) is the wrapped local assistant's."""

    def __init__(self, assistant: Assistant, address: str | None = None, *, actors: int | None = None,
                 num_cpus: int | None = None, corpus: Sequence[str | Path] | None = None) -> None:
        """``corpus``: the files and folders ``assistant`` was opened over (its index folder is named
        after them), for the actors to open the same index; default: its documents."""
        _shareable(assistant.settings)
        self.assistant = assistant
        ray = start_ray(address, num_cpus)
        size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1)(_AskActor)
        profile = assistant.profile.to_dict()
        self._ray = ray
        given = list(corpus) if corpus else list(assistant.documents)
        self._actors = [remote.remote(given, assistant.settings, profile) for _ in range(size)]
        try:
            opened = set(ray.get([a.where.remote() for a in self._actors]))
        except Exception as exc:  # RayActorError: an actor could not open the assistant
            self.close()
            raise StoreError(f"a Ray actor could not open the index ({reason_of(exc, last=True)}); "
                             "run again, or without --ray") from None
        if opened != {_where(assistant)}:  # its answers would not be this process's
            self.close()
            raise StoreError(f"the Ray actors opened another index ({', '.join(sorted(opened))[:200]}) than this "
                             f"process ({_where(assistant)}); run without --ray")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assistant, name)

    def ask_many_by_retriever(self, questions: Sequence[str], retrievers: Sequence[Retriever],
                              k: int | None = None) -> dict[str, list[Answer]]:
        """The wrapped assistant's answers, each slice of the batch asked by one actor."""
        questions = list(questions)
        n = len(self._actors)
        size = -(-len(questions) // n) if questions else 0
        slices = [questions[i * size:(i + 1) * size] for i in range(n)] if size else []
        jobs = [a.ask.remote(s, list(retrievers), k) for a, s in zip(self._actors, slices) if s]
        out: dict[str, list[Answer]] = {r: [] for r in retrievers}
        try:
            parts = self._ray.get(jobs)
        except Exception as exc:  # RayActorError, RayTaskError: an actor died or its assistant failed
            raise StoreError(f"a Ray actor failed while answering ({reason_of(exc, last=True)}); "
                             "run again, or without --ray") from None
        for part in parts:
            for r in retrievers:
                out[r].extend(part[r])
        return out

    def close(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []


class RaySpread:
    """``qa.evaluate``'s ``spread`` under ``qa eval --ray``: the assistant it asks through (one built for a
    JSONL file's corpus or a SQuAD file's own contexts, or the one given) wrapped in a :class:`RayAssistant`.

    Made before any index is built, so that a Lite file or an unreachable cluster is refused first.
    ``corpus``: the files and folders given to :func:`qa.evaluate` with a JSONL file (its assistant is
    opened over them; a SQuAD file takes none). :meth:`close` ends the pools.
    """

    def __init__(self, settings: Settings, address: str | None = None, *, corpus: Sequence[str | Path] | None = None,
                 actors: int | None = None, num_cpus: int | None = None) -> None:
        _shareable(settings)
        start_ray(address, num_cpus)
        self.address, self.corpus, self.actors = address, corpus, actors
        self.pools: list[RayAssistant] = []

    def __call__(self, assistant: Assistant) -> RayAssistant:
        pool = RayAssistant(assistant, self.address, actors=self.actors, corpus=self.corpus)
        self.pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.pools = []
