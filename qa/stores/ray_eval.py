"""Questions asked by a pool of Ray actors (``qa eval --ray [ADDRESS]``).

Each actor holds its own :class:`qa.assistant.Assistant` over the same corpus and
settings (it opens the index the driver built: the embedded folder, or a Milvus
server) and the driver's null profile, so its answers are the driver's. A batch of
questions is cut into one slice per actor and put back in order. A Milvus Lite file
opens in one process at a time, so it cannot be shared by actors: use the embedded
store or a Milvus server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..config import Retriever, Settings
from ..corpus import Document
from . import StoreError
from .ray_ingest import start_ray

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..search import Answer


class _AskActor:
    """One actor: an assistant over the corpus, answering slices of question batches."""

    def __init__(self, documents: list[Document], settings: Settings, profile: dict[str, Any]) -> None:
        from ..assistant import Assistant
        from ..confidence import NullProfile

        self.assistant = Assistant(documents, settings)
        self.assistant.profile = NullProfile.from_dict(profile)  # the driver's: the same not-found decisions

    def ask(self, questions: list[str], retrievers: list[str], k: int | None) -> dict[str, list[Answer]]:
        return self.assistant.ask_many_by_retriever(questions, retrievers, k)


def _shareable(settings: Settings) -> None:
    if settings.store == "milvus" and not settings.milvus_uri.startswith(("http://", "https://", "tcp://")):
        raise StoreError("a Milvus Lite file opens in one process at a time, so Ray actors cannot share it; "
                         "use --ray with the embedded store or a Milvus server URI")


class RayAssistant:
    """An assistant whose ``ask_many_by_retriever`` spreads each batch over Ray actors; everything else
    (settings, documents, index, single questions) is the wrapped local assistant's."""

    def __init__(self, assistant: Assistant, address: str | None = None, *, actors: int | None = None,
                 num_cpus: int | None = None) -> None:
        _shareable(assistant.settings)
        self.assistant = assistant
        ray = start_ray(address, num_cpus)
        size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1)(_AskActor)
        profile = assistant.profile.to_dict()
        self._ray = ray
        self._actors = [remote.remote(list(assistant.documents), assistant.settings, profile) for _ in range(size)]

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
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
            raise StoreError(f"a Ray actor failed while answering ({reason}); run again, or without --ray") from None
        for part in parts:
            for r in retrievers:
                out[r].extend(part[r])
        return out

    def close(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []


def ray_assistant(questions: str, format: str, corpus: Sequence[str] | None, assistant: Assistant | None,
                  settings: Settings, address: str | None = None) -> RayAssistant:
    """The assistant ``qa eval --ray`` asks a JSONL file's questions with: the collection's (``assistant``)
    or one over ``corpus`` (default: the bundled essay), its batches spread over Ray actors.

    A SQuAD file's corpus is built inside :func:`qa.evaluate`, which takes no pool yet: refused in one line.
    """
    from ..assistant import Assistant
    from ..evaluation.datasets import load_questions

    if load_questions(questions, format).format == "squad":  # type: ignore[arg-type]
        raise StoreError("qa eval --ray takes JSONL question files for now (a SQuAD file's corpus is built "
                         "inside qa.evaluate, which has no hook for a Ray pool yet); run it without --ray")
    _shareable(settings)
    return RayAssistant(assistant or Assistant(list(corpus) if corpus else None, settings), address)
