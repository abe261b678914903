"""Embedding through a local Ray Data actor pool: the same vectors, in the caller's order, and the same index."""

import numpy as np
import pytest

from qa import Assistant
from qa.corpus import document_from_text
from qa.embed import FakeEmbedder

pytestmark = pytest.mark.scale

DOC = document_from_text(
    "一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
    "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
    "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。", "doc", source="doc.txt")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from qa.stores.ray_ingest import start_ray

    start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


def test_unreachable_cluster_is_one_line():
    ray = pytest.importorskip("ray")
    from qa.stores import StoreError
    from qa.stores.ray_ingest import start_ray

    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    with pytest.raises(StoreError, match="cannot reach the Ray cluster at 127.0.0.1:1") as info:
        start_ray("127.0.0.1:1")
    assert "\n" not in str(info.value)


def test_actor_pool_returns_single_process_vectors_in_order(local_ray, fake_settings):
    from qa.stores.ray_ingest import embed_texts

    texts = [f"第{i}段：社区工作者待遇逐年提高，编号{i * 7}" for i in range(300)]
    vectors = embed_texts(texts, fake_settings, batch_size=16)
    expected = FakeEmbedder().encode_passages(texts)
    assert vectors.shape == expected.shape
    assert float(np.abs(vectors - expected).max()) == 0.0


def test_index_built_through_ray_answers_like_one_built_locally(local_ray, fake_settings, tmp_path):
    from qa.stores.ray_ingest import RayEmbedder

    local = Assistant([DOC], fake_settings, embedder=FakeEmbedder())
    ray_settings = fake_settings.with_(index_dir=tmp_path / "ray-index")
    through_ray = Assistant([DOC], ray_settings, embedder=RayEmbedder(FakeEmbedder(), ray_settings))
    for q in ["专项经费接受审计监督", "社区工作者待遇"]:
        a, b = local.ask(q), through_ray.ask(q)
        assert [h.passage_id for h in a] == [h.passage_id for h in b]
        assert [h.scores["fused"] for h in a] == pytest.approx([h.scores["fused"] for h in b], abs=1e-6)
