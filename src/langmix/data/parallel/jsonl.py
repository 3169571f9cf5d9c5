"""The parallel JSONL format (``docs/training.md``): reader and writer, which round-trip."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langmix.data.inputs import iter_lines
from langmix.data.parallel.items import ParallelDataset, ParallelItem, ParallelText, check_language_code
from langmix.errors import DataError
from langmix.io import write_atomic


def _text_from_json(obj: Any, path: Path, record: str) -> ParallelText:
    if not isinstance(obj, dict):
        raise DataError(path, "expected an object with 'query' and 'positive'", record)
    query, positive = obj.get("query"), obj.get("positive")
    negatives = obj.get("negatives", [])
    if isinstance(negatives, str):
        negatives = [negatives]
    if not isinstance(query, str):
        raise DataError(path, "missing 'query' text", record)
    if not isinstance(positive, str):
        raise DataError(path, "missing 'positive' text", record)
    if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
        raise DataError(path, "'negatives' must be a list of strings", record)
    return ParallelText(query.strip(), positive.strip(), tuple(n.strip() for n in negatives))


def _parse_line(line: str, path: Path, record: str) -> tuple[str, dict[str, ParallelText]]:
    """One line -> (id, language -> text), in either of the two line forms."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg}", record) from None
    if not isinstance(obj, dict):
        raise DataError(path, "expected a JSON object", record)
    qid = obj.get("id")
    if isinstance(qid, int):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        raise DataError(path, "missing 'id'", record)
    if "languages" in obj:
        langs = obj["languages"]
        if not isinstance(langs, dict) or not langs:
            raise DataError(path, "'languages' must be a non-empty object lang -> texts", record)
        return qid, {lang: _text_from_json(v, path, f"{record} ({lang})") for lang, v in langs.items()}
    if "lang" in obj:
        return qid, {obj["lang"]: _text_from_json(obj, path, record)}
    raise DataError(path, "line has neither 'languages' nor 'lang'", record)


def load_parallel_jsonl(
    path: str | Path,
    *,
    name: str | None = None,
    languages: Sequence[str] | None = None,
    complete: bool = False,
) -> ParallelDataset:
    """Read the parallel JSONL format; each line is either

    * an item: ``{"id": "q1", "languages": {"en": {"query": .., "positive": .., "negatives": [..]}, ..}}``
    * or one language version: ``{"id": "q1", "lang": "en", "query": .., "positive": .., "negatives": [..]}``

    (``negatives`` optional). Versions of one id may be spread over lines; an (id, language) pair twice
    is an error, as are empty texts and bad language codes. With ``complete=True`` every id must have
    every language of the file.
    """
    path = Path(path)
    by_id: dict[str, dict[str, ParallelText]] = {}
    where: dict[tuple[str, str], int] = {}
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        record = f"line {lineno}"
        qid, versions = _parse_line(line, path, record)
        for lang, text in versions.items():
            check_language_code(lang, path, record)
            if (qid, lang) in where:
                raise DataError(
                    path,
                    f"duplicate id {qid!r} in language {lang!r} (first on line {where[qid, lang]})",
                    record,
                )
            where[qid, lang] = lineno
            by_id.setdefault(qid, {})[lang] = text
    if not by_id:
        raise DataError(path, "no items")
    ds = ParallelDataset(
        name or path.stem,
        [ParallelItem(qid, texts) for qid, texts in by_id.items()],
        source=str(path),
        complete=complete,
    )
    return ds.select_languages(languages) if languages else ds


def write_parallel_jsonl(path: str | Path, dataset: ParallelDataset) -> Path:
    """Write ``dataset`` in the item-per-line JSONL format (round-trips through load_parallel_jsonl)."""
    lines = []
    for item in dataset.items:
        langs = {}
        for lang, t in sorted(item.texts.items()):
            entry: dict[str, Any] = {"query": t.query, "positive": t.positive}
            if t.negatives:
                entry["negatives"] = list(t.negatives)
            langs[lang] = entry
        lines.append(json.dumps({"id": item.id, "languages": langs}, ensure_ascii=False))
    return write_atomic(path, "\n".join(lines) + "\n")
