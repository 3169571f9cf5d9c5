"""Parallel training data: loaders (SQuAD-format, JSONL, mMARCO layout), validation, the held-out split."""

from __future__ import annotations

import json
import shutil

import pytest

from langmix.data.parallel import (
    ParallelDataset,
    ParallelItem,
    ParallelText,
    language_from_filename,
    load_mmarco,
    load_parallel,
    load_parallel_jsonl,
    load_squad_parallel,
    split_sentences,
    split_validation,
    write_parallel_jsonl,
)
from langmix.errors import DataError, LangmixError


def test_mlqa_r_as_parallel_items(data_dir):
    ds = load_squad_parallel(data_dir / "lareqa" / "mlqa-r")
    summary = ds.summary()
    assert (summary["items"], summary["rows"]) == (1148, 4199)
    assert summary["languages"]["en"] == 1148 and summary["languages"]["de"] == 512
    assert summary["items_by_language_count"] == {"2": 65, "3": 263, "4": 820}
    item = ds.items[0]
    assert "en" in item.texts and len(item.texts) >= 2
    # the positive is the answer sentence of the paragraph, the query the question
    raw = json.loads((data_dir / "lareqa/mlqa-r/en.json").read_text())
    paragraph = raw["data"][0]["paragraphs"][0]
    qa = paragraph["qas"][0]
    text = ds.subset([qa["id"]]).items[0].texts["en"]
    assert text.query == qa["question"].strip()
    start = qa["answers"][0]["answer_start"]
    b, e = next((b, e) for b, e in paragraph["sentence_breaks"] if b <= start < e)
    assert text.positive == paragraph["context"][b:e].strip()


def test_sentence_plus_paragraph_and_language_subset(data_dir):
    ds = load_squad_parallel(
        data_dir / "lareqa" / "xquad-r", languages=["en", "de"], passage="sentence+paragraph"
    )
    assert ds.languages == ("de", "en") and len(ds) == 1190 and ds.n_rows == 2380
    t = ds.items[0].texts["de"]
    assert len(t.positive) > 200  # the paragraph follows the sentence
    with pytest.raises(LangmixError, match="passage mode"):
        load_squad_parallel(data_dir / "lareqa" / "xquad-r", passage="paragraph")
    with pytest.raises(LangmixError, match="no file for language"):
        load_squad_parallel(data_dir / "lareqa" / "mlqa-r", languages=["en", "el"])


def test_language_code_must_agree_with_file_name(data_dir):
    folder = data_dir / "lareqa" / "mlqa-r"
    ds = load_squad_parallel({"en": folder / "en.json", "de": folder / "de.json"})
    assert ds.languages == ("de", "en")
    with pytest.raises(DataError, match="file name says language 'de'"):
        load_squad_parallel({"en": folder / "en.json", "es": folder / "de.json"})
    with pytest.raises(DataError, match="not a language code"):
        load_squad_parallel({"English": folder / "en.json"})
    assert language_from_filename("squad.translate.train.en-de.json") == "de"
    assert language_from_filename("train-v1.1.json") is None


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        load_squad_parallel(tmp_path / "missing")
    with pytest.raises(DataError, match="no <lang>.json"):
        load_squad_parallel(tmp_path)
    (tmp_path / "train.json").write_text("{}")
    with pytest.raises(DataError, match="cannot tell the language"):
        load_squad_parallel(tmp_path)


def _squad(qas_by_id: dict[str, tuple[str, str, int]], context: str) -> dict:
    return {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": s}]}
                            for qid, (q, a, s) in qas_by_id.items()
                        ],
                    }
                ],
            }
        ]
    }


def test_translate_train_files_without_sentence_breaks(tmp_path):
    en = "Paris is in France. Berlin is in Germany! Rome is in Italy."
    de = "Paris liegt in Frankreich. Berlin liegt in Deutschland! Rom liegt in Italien."
    (tmp_path / "squad.translate.train.en-en.json").write_text(
        json.dumps(
            _squad(
                {
                    "a": ("Where is Berlin?", "Germany", en.index("Germany")),
                    "b": ("Where is Rome?", "Italy", en.index("Italy")),
                },
                en,
            )
        )
    )
    (tmp_path / "squad.translate.train.en-de.json").write_text(
        json.dumps(_squad({"a": ("Wo liegt Berlin?", "Deutschland", de.index("Deutschland"))}, de))
    )
    ds = load_squad_parallel(tmp_path)
    assert ds.languages == ("de", "en") and len(ds) == 2
    by_id = {item.id: item for item in ds.items}
    assert by_id["a"].texts["de"].positive == "Berlin liegt in Deutschland!"
    assert by_id["b"].texts["en"].positive == "Rome is in Italy."
    assert list(by_id["b"].texts) == ["en"]
    assert split_sentences("一句。二句！三") == [(0, 3), (3, 6), (6, 7)]


def test_validation_errors():
    ok = ParallelText("q", "p")
    with pytest.raises(DataError, match="duplicate id 'x'"):
        ParallelDataset("d", [ParallelItem("x", {"en": ok}), ParallelItem("x", {"de": ok})])
    with pytest.raises(DataError, match="empty query in language 'de'"):
        ParallelDataset("d", [ParallelItem("x", {"de": ParallelText(" ", "p")})])
    with pytest.raises(DataError, match="empty positive"):
        ParallelDataset("d", [ParallelItem("x", {"de": ParallelText("q", "")})])
    with pytest.raises(DataError, match="hard negative 0 in 'en' is the positive"):
        ParallelDataset("d", [ParallelItem("x", {"en": ParallelText("q", "p", ("p",))})])
    with pytest.raises(DataError, match="no language"):
        ParallelDataset("d", [ParallelItem("x", {})])
    with pytest.raises(DataError, match="missing language"):
        ParallelDataset(
            "d", [ParallelItem("x", {"en": ok, "de": ok}), ParallelItem("y", {"en": ok})], complete=True
        )
    with pytest.raises(DataError, match="no items"):
        ParallelDataset("d", [])


def test_jsonl_round_trip_and_both_line_forms(tmp_path):
    ds = ParallelDataset(
        "d",
        [
            ParallelItem(
                "1", {"en": ParallelText("q1", "p1", ("n1",)), "de": ParallelText("q1de", "p1de", ("n1de",))}
            ),
            ParallelItem("2", {"en": ParallelText("q2", "p2", ("n2",))}),
        ],
    )
    path = write_parallel_jsonl(tmp_path / "x.jsonl", ds)
    back = load_parallel_jsonl(path)
    assert [(i.id, dict(i.texts)) for i in back.items] == [(i.id, dict(i.texts)) for i in ds.items]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"id": "1", "lang": "en", "query": "q", "positive": "p"}\n\n'
        '{"id": "1", "lang": "de", "query": "qd", "positive": "pd", "negatives": ["nd"]}\n'
    )
    item = load_parallel_jsonl(rows).items[0]
    assert item.languages == ("de", "en") and item.texts["de"].negatives == ("nd",)
    assert load_parallel(str(rows)).n_rows == 2


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (
            [
                '{"id": "1", "lang": "en", "query": "q", "positive": "p"}',
                '{"id": "1", "lang": "en", "query": "q2", "positive": "p2"}',
            ],
            r"line 2: duplicate id '1' in language 'en'",
        ),
        (['{"id": "1", "lang": "en", "query": "", "positive": "p"}'], "empty query"),
        (['{"id": "1", "lang": "EN", "query": "q", "positive": "p"}'], "not a language code"),
        (['{"id": "1", "query": "q", "positive": "p"}'], "neither 'languages' nor 'lang'"),
        (['{"id": "1", "lang": "en", "query": "q"}'], "missing 'positive'"),
        (
            [
                '{"id": "1", "lang": "en", "query": "q", "positive": "p"',
            ],
            "line 1: not valid JSON",
        ),
        (['{"lang": "en", "query": "q", "positive": "p"}'], "missing 'id'"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, lines, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match):
        load_parallel_jsonl(path)


def test_jsonl_complete_requires_every_language(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(
        '{"id": "1", "languages": {"en": {"query": "a", "positive": "b"}, '
        '"de": {"query": "c", "positive": "d"}}}\n'
        '{"id": "2", "languages": {"en": {"query": "e", "positive": "f"}}}\n'
    )
    assert len(load_parallel_jsonl(path)) == 2
    with pytest.raises(DataError, match="id=2.*missing language"):
        load_parallel_jsonl(path, complete=True)


def _mmarco_fixture(root, n=5, german=None):
    for config, prefix in (("english", "en"), ("german", "de")):
        folder = root / config
        folder.mkdir(parents=True)
        count = german if (german is not None and config == "german") else n
        with open(folder / "train.jsonl", "w") as fh:
            for i in range(count):
                fh.write(
                    json.dumps(
                        {
                            "query": f"{prefix} q{i}",
                            "positive": f"{prefix} p{i}",
                            "negative": f"{prefix} n{i}",
                        }
                    )
                    + "\n"
                )
    return root


def test_mmarco_local_layout(tmp_path):
    root = _mmarco_fixture(tmp_path / "mmarco")
    ds = load_mmarco(["en", "de"], path=root)
    assert len(ds) == 5 and ds.complete and ds.languages == ("de", "en")
    item = ds.items[3]
    assert item.id == "3"
    assert item.texts["de"] == ParallelText("de q3", "de p3", ("de n3",))
    assert len(load_mmarco(["en", "de"], path=root, max_items=2)) == 2
    assert len(load_parallel(f"mmarco:{root}", languages=["en", "de"], max_items=3)) == 3
    with pytest.raises(LangmixError, match="mMARCO has no language 'el'"):
        load_mmarco(["el"], path=root)
    with pytest.raises(DataError, match="folder for mMARCO language 'french'"):
        load_mmarco(["fr"], path=root)
    with pytest.raises(LangmixError, match="needs --languages"):
        load_parallel(f"mmarco:{root}")
    shutil.rmtree(root)
    root = _mmarco_fixture(tmp_path / "mmarco", german=4)
    with pytest.raises(DataError, match="different row counts"):
        load_mmarco(["en", "de"], path=root)


def test_load_parallel_specs(data_dir, tmp_path, monkeypatch):
    ds = load_parallel("mlqa-r", data_root=data_dir, languages=["en", "de"], max_items=100)
    assert len(ds) == 100 and set(ds.languages) <= {"en", "de"}
    monkeypatch.delenv("LANGMIX_DATA_DIR", raising=False)
    with pytest.raises(LangmixError, match="LANGMIX_DATA_DIR"):
        load_parallel("xquad-r")
    with pytest.raises(DataError, match="not found"):
        load_parallel(str(tmp_path / "nothing"))


def test_validation_split_by_id(data_dir):
    ds = load_squad_parallel(data_dir / "lareqa" / "mlqa-r")
    train, val = split_validation(ds, fraction=0.1, seed=3)
    assert len(val) == 115 and len(train) + len(val) == len(ds)
    assert not set(train.ids) & set(val.ids)
    again_train, again_val = split_validation(ds, fraction=0.1, seed=3)
    assert again_val.ids == val.ids
    # depends on (seed, id), not on the order of the items
    shuffled = ParallelDataset(ds.name, list(reversed(ds.items)))
    assert set(split_validation(shuffled, fraction=0.1, seed=3)[1].ids) == set(val.ids)
    assert set(split_validation(ds, fraction=0.1, seed=4)[1].ids) != set(val.ids)
    assert len(split_validation(ds, n=7)[1]) == 7
    with pytest.raises(LangmixError, match="cannot hold out"):
        split_validation(ds, n=len(ds))
