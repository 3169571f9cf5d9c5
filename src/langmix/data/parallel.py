"""Parallel training data: one item per id, each with a query and a positive passage in several languages.

A :class:`ParallelItem` is ``id -> language -> (query, positive passage, hard negatives)``. The batch
samplers (``langmix.batching``) build monolingual batches (query and passage in one language) and
cross-lingual batches (query in X, passage in Y != X) from the same items, and never put two rows of
one id in a batch. Loaders:

* :func:`load_squad_parallel` — SQuAD-format files, one per language, linked by the question ``id``
  (XQuAD-R / MLQA-R, XTREME translate-train). Query = question, positive = the sentence holding the
  answer (optionally followed by its paragraph). Files without ``sentence_breaks`` (translate-train)
  are split into sentences with a simple punctuation rule.
* :func:`load_parallel_jsonl` — the documented JSONL format (see ``docs/training.md``).
* :func:`load_mmarco` — mMARCO through the ``datasets`` library (rows are parallel by position).
* :func:`load_parallel` — one entry point for a ``--data`` spec string.

:func:`split_validation` holds out whole ids (an id is never on both sides).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langmix.data.squad import read_squad_file
from langmix.errors import DataError, LangmixError

PASSAGE_MODES = ("sentence", "sentence+paragraph")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
# Two-letter token at the end of a file stem: "de", "mlqa-r.de", "squad.translate.train.en-de".
_FILE_LANG_RE = re.compile(r"(?:^|[._-])([a-z]{2})$")

# mMARCO's language names (its dataset configs) by ISO code.
MMARCO_LANGUAGES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "vi": "vietnamese",
    "zh": "chinese",
}


@dataclass(frozen=True)
class ParallelText:
    """One language version of an item."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParallelItem:
    id: str
    texts: Mapping[str, ParallelText]  # language code -> text

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.texts))


@dataclass
class ParallelDataset:
    """Items of one source, unique ids, at least one language each, no empty text.

    ``complete`` datasets (mMARCO, translate-train) must have every item in every language; partial
    ones (MLQA-R: 2-4 of 7 languages per id) may miss languages. Items with a single language can
    serve monolingual batches only.
    """

    name: str
    items: list[ParallelItem]
    source: str = ""
    complete: bool = False
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({lang for item in self.items for lang in item.texts}))

    @property
    def n_rows(self) -> int:
        """Number of (id, language) versions: the size used to weigh datasets against each other."""
        return sum(len(item.texts) for item in self.items)

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def validate(self) -> None:
        where = self.source or self.name
        if not self.items:
            raise DataError(where, "no items")
        seen: set[str] = set()
        all_langs = self.languages
        for n, item in enumerate(self.items):
            record = f"item {n} (id={item.id})"
            if not isinstance(item.id, str) or not item.id:
                raise DataError(where, "missing id", f"item {n}")
            if item.id in seen:
                raise DataError(where, f"duplicate id {item.id!r}", record)
            seen.add(item.id)
            if not item.texts:
                raise DataError(where, "item has no language", record)
            for lang, text in item.texts.items():
                check_language_code(lang, where)
                if not text.query or not text.query.strip():
                    raise DataError(where, f"empty query in language {lang!r}", record)
                if not text.positive or not text.positive.strip():
                    raise DataError(where, f"empty positive passage in language {lang!r}", record)
                for k, neg in enumerate(text.negatives):
                    if not neg or not neg.strip():
                        raise DataError(where, f"empty hard negative {k} in language {lang!r}", record)
                    if neg == text.positive:
                        raise DataError(
                            where, f"hard negative {k} in {lang!r} is the positive passage", record
                        )
            if self.complete and len(item.texts) != len(all_langs):
                missing = sorted(set(all_langs) - set(item.texts))
                raise DataError(where, f"item is missing language(s) {', '.join(missing)}", record)

    def select_languages(self, languages: Sequence[str]) -> ParallelDataset:
        """Keep only ``languages`` (items left with none are dropped); unknown codes are an error."""
        unknown = [lang for lang in languages if lang not in self.languages]
        if unknown:
            raise LangmixError(
                f"{self.name}: no data in language(s) {', '.join(unknown)}; "
                f"it has {', '.join(self.languages)}"
            )
        keep = set(languages)
        items = []
        for item in self.items:
            texts = {lang: t for lang, t in item.texts.items() if lang in keep}
            if texts:
                items.append(ParallelItem(item.id, texts))
        return ParallelDataset(self.name, items, self.source, self.complete, list(self.skipped))

    def subset(self, ids: Iterable[str], name: str | None = None) -> ParallelDataset:
        wanted = set(ids)
        items = [item for item in self.items if item.id in wanted]
        return ParallelDataset(name or self.name, items, self.source, self.complete, [])

    def summary(self) -> dict[str, Any]:
        per_lang: dict[str, int] = {lang: 0 for lang in self.languages}
        by_count: dict[int, int] = {}
        for item in self.items:
            for lang in item.texts:
                per_lang[lang] += 1
            by_count[len(item.texts)] = by_count.get(len(item.texts), 0) + 1
        return {
            "name": self.name,
            "source": self.source,
            "items": len(self.items),
            "rows": self.n_rows,
            "languages": per_lang,
            "items_by_language_count": {str(k): v for k, v in sorted(by_count.items())},
            "cross_lingual_items": sum(v for k, v in by_count.items() if k >= 2),
            "skipped": len(self.skipped),
        }


def check_language_code(lang: Any, where: str | Path) -> str:
    if not isinstance(lang, str) or not _LANG_RE.match(lang):
        raise DataError(where, f"{lang!r} is not a language code (expected e.g. 'en', 'de', 'zh')")
    return lang


def language_from_filename(path: str | Path) -> str | None:
    """The two-letter code a file name ends with (``de.json``, ``train.en-de.json``), or None."""
    stem = Path(path).name.split(".json")[0]
    match = _FILE_LANG_RE.search(stem)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------------
# SQuAD-format files
# --------------------------------------------------------------------------------------------------

_SENT_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？।])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of sentences: a break after . ! ? … followed by space, or after 。！？।."""
    spans, start = [], 0
    for match in _SENT_END.finditer(text):
        end = match.start()
        if end > start and text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def _has_sentence_breaks(doc: Any) -> bool:
    for article in doc.get("data", []) if isinstance(doc, dict) else []:
        for paragraph in article.get("paragraphs", []) if isinstance(article, dict) else []:
            if isinstance(paragraph, dict):
                return "sentence_breaks" in paragraph
    return False


def _read_squad_unsplit(path: Path, strict: bool) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """Files without sentence_breaks (XTREME translate-train): split sentences ourselves."""
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid UTF-8 JSON: {exc}") from None
    articles = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(articles, list):
        raise DataError(path, "top level has no 'data' list (is this a SQuAD-format file?)")
    out: dict[str, tuple[str, str, str]] = {}
    skipped: list[str] = []
    for a, article in enumerate(articles):
        paragraphs = (article.get("paragraphs") or []) if isinstance(article, dict) else []
        for p, paragraph in enumerate(paragraphs):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            record = f"data[{a}].paragraphs[{p}]"
            if not isinstance(context, str) or not context.strip():
                if strict:
                    raise DataError(path, "missing or empty 'context'", record)
                skipped.append(f"{path}: {record}: empty context")
                continue
            spans = split_sentences(context)
            for k, qa in enumerate(paragraph.get("qas") or []):
                rec = f"{record}.qas[{k}]"
                try:
                    qid, question = qa.get("id"), qa.get("question")
                    start = qa["answers"][0]["answer_start"]
                    if not isinstance(qid, str) or not qid or not isinstance(question, str):
                        raise ValueError("missing id or question")
                    hits = [(b, e) for b, e in spans if b <= start < e]
                    if type(start) is not int or not hits:
                        raise ValueError(f"answer_start={start!r} is not inside the context")
                    if qid in out:
                        raise ValueError(f"duplicate question id {qid}")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                    if strict:
                        raise DataError(path, str(exc), rec) from None
                    skipped.append(f"{path}: {rec}: {exc}")
                    continue
                b, e = hits[0]
                out[qid] = (question, context[b:e].strip(), context)
    return out, skipped


def _squad_versions(path: Path, lang: str, strict: bool) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """id -> (question, answer sentence, paragraph) for one language's file."""
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None  # read_squad_file reports it with line and column
    if doc is not None and not _has_sentence_breaks(doc):
        return _read_squad_unsplit(path, strict)
    squad = read_squad_file(path, lang, strict=strict)
    out = {}
    for q in squad.questions:
        sentence = squad.sentences[q.sentence]
        out[q.id] = (q.text, sentence.text, squad.paragraphs[sentence.paragraph])
    return out, [str(s) for s in squad.skipped]


def _resolve_files(files: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    if isinstance(files, Mapping):
        resolved = {}
        for lang, path in files.items():
            path = Path(path)
            check_language_code(lang, path)
            named = language_from_filename(path)
            if named is not None and named != lang.split("-")[0].split("_")[0]:
                raise DataError(
                    path,
                    f"file name says language {named!r} but it was given as {lang!r}; "
                    "rename the file or fix the mapping",
                )
            resolved[lang] = path
        return resolved
    folder = Path(files)
    if folder.is_file():
        raise LangmixError(
            f"{folder}: one SQuAD file holds one language; give a folder of <lang>.json files or a "
            "mapping language -> file"
        )
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    resolved = {}
    for path in sorted(folder.glob("*.json")):
        lang = language_from_filename(path)
        if lang is None:
            raise DataError(path, "cannot tell the language from the file name (expected <lang>.json)")
        if lang in resolved:
            raise DataError(path, f"a second file for language {lang!r} (first: {resolved[lang].name})")
        resolved[lang] = path
    if not resolved:
        raise DataError(folder, "no <lang>.json files in the folder")
    return resolved


def load_squad_parallel(
    files: str | Path | Mapping[str, str | Path],
    *,
    name: str | None = None,
    languages: Sequence[str] | None = None,
    passage: str = "sentence",
    strict: bool = True,
    complete: bool = False,
) -> ParallelDataset:
    """SQuAD-format files, one per language, whose questions share ids across languages.

    ``files`` is a folder of ``<lang>.json`` files or a mapping language -> file (the file's own name,
    when it ends in a language code, must agree). Query = question; positive = the sentence holding
    ``answer_start`` (``passage="sentence+paragraph"`` appends the paragraph, as LAReQA candidates do).
    """
    if passage not in PASSAGE_MODES:
        raise LangmixError(f"unknown passage mode {passage!r}; choose one of {', '.join(PASSAGE_MODES)}")
    resolved = _resolve_files(files)
    if languages:
        missing = [lang for lang in languages if lang not in resolved]
        if missing:
            raise LangmixError(
                f"{files}: no file for language(s) {', '.join(missing)}; found {', '.join(sorted(resolved))}"
            )
        resolved = {lang: resolved[lang] for lang in languages}
    by_id: dict[str, dict[str, ParallelText]] = {}
    order: list[str] = []
    skipped: list[str] = []
    for lang, path in resolved.items():
        versions, skip = _squad_versions(path, lang, strict)
        skipped.extend(skip)
        if not versions:
            raise DataError(path, "no usable questions")
        for qid, (question, sentence, paragraph) in versions.items():
            positive = sentence if passage == "sentence" else f"{sentence} {paragraph}"
            if qid not in by_id:
                by_id[qid] = {}
                order.append(qid)
            by_id[qid][lang] = ParallelText(question.strip(), positive.strip())
    source = str(files) if not isinstance(files, Mapping) else ", ".join(str(p) for p in resolved.values())
    if name is None:
        name = Path(files).name if not isinstance(files, Mapping) else "squad"
    items = [ParallelItem(qid, by_id[qid]) for qid in order]
    return ParallelDataset(name, items, source=source, complete=complete, skipped=skipped)


# --------------------------------------------------------------------------------------------------
# Parallel JSONL
# --------------------------------------------------------------------------------------------------


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
    if not path.is_file():
        raise DataError(path, "file not found")
    by_id: dict[str, dict[str, ParallelText]] = {}
    where: dict[tuple[str, str], int] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = f"line {lineno}"
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
                versions = {lang: _text_from_json(v, path, f"{record} ({lang})") for lang, v in langs.items()}
            elif "lang" in obj:
                versions = {obj["lang"]: _text_from_json(obj, path, record)}
            else:
                raise DataError(path, "line has neither 'languages' nor 'lang'", record)
            for lang, text in versions.items():
                check_language_code(lang, f"{path}: {record}")
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
    from langmix.io import write_atomic

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


# --------------------------------------------------------------------------------------------------
# mMARCO
# --------------------------------------------------------------------------------------------------


def load_mmarco(
    languages: Sequence[str],
    *,
    path: str | Path = "unicamp-dl/mmarco",
    split: str = "train",
    max_items: int | None = None,
    streaming: bool = False,
    hard_negatives: bool = True,
) -> ParallelDataset:
    """mMARCO training triples through ``datasets``: one config per language (``english``, ``german``...),
    columns ``query``, ``positive``, ``negative``; row *i* of every language is the translation of row *i*
    of the others, so the row index is the parallel id.

    ``path`` is the Hub id or a local folder in the same layout (``<folder>/<language name>/*.jsonl`` or
    ``*.parquet``), which is how the tests run it offline. ``max_items`` keeps the first rows only
    (with ``streaming=True`` nothing else is downloaded).
    """
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise LangmixError("mMARCO needs the 'datasets' package") from exc
    local = Path(path).is_dir()
    columns: dict[str, list[tuple[str, str, str | None]]] = {}
    for lang in languages:
        if lang not in MMARCO_LANGUAGES:
            raise LangmixError(
                f"mMARCO has no language {lang!r}; it has {', '.join(sorted(MMARCO_LANGUAGES))}"
            )
        config = MMARCO_LANGUAGES[lang]
        try:
            if local:
                folder = Path(path) / config
                if not folder.is_dir():
                    raise DataError(folder, f"folder for mMARCO language {config!r} not found")
                ds = datasets.load_dataset(str(path), data_dir=config, split=split, streaming=streaming)
            else:
                ds = datasets.load_dataset(str(path), config, split=split, streaming=streaming)
        except DataError:
            raise
        except Exception as exc:  # datasets raises many kinds; one readable line for the user
            raise LangmixError(f"mMARCO {config} ({path}, split {split}): could not load: {exc}") from None
        needed = {"query", "positive"}
        names = set(ds.column_names or [])
        if not needed <= names:
            raise DataError(
                f"{path}/{config}", f"expected columns query, positive[, negative]; found {sorted(names)}"
            )
        rows = []
        for n, row in enumerate(ds):
            if max_items is not None and n >= max_items:
                break
            neg = row.get("negative") if hard_negatives else None
            rows.append((row["query"], row["positive"], neg))
        columns[lang] = rows
    counts = {lang: len(rows) for lang, rows in columns.items()}
    if len(set(counts.values())) > 1:
        raise DataError(
            str(path),
            f"languages have different row counts {counts}; mMARCO rows must be parallel by position",
        )
    n = next(iter(counts.values()))
    items = []
    for i in range(n):
        texts = {}
        for lang, rows in columns.items():
            q, p, neg = rows[i]
            texts[lang] = ParallelText(q.strip(), p.strip(), (neg.strip(),) if neg else ())
        items.append(ParallelItem(str(i), texts))
    return ParallelDataset("mmarco", items, source=f"{path} ({split})", complete=True)


# --------------------------------------------------------------------------------------------------
# One entry point and the validation split
# --------------------------------------------------------------------------------------------------

LAREQA_SHORTCUTS = ("mlqa-r", "xquad-r")


def load_parallel(
    spec: str,
    *,
    languages: Sequence[str] | None = None,
    passage: str = "sentence",
    data_root: str | Path | None = None,
    max_items: int | None = None,
) -> ParallelDataset:
    """Resolve a ``--data`` value:

    * ``mlqa-r`` / ``xquad-r`` — the LAReQA set's files under ``<data root>/lareqa/<name>/``
      (``data_root`` or ``$LANGMIX_DATA_DIR``);
    * ``mmarco`` or ``mmarco:<hub id or local folder>`` — needs ``languages``;
    * a ``.jsonl`` file — the parallel JSONL format;
    * a folder of ``<lang>.json`` SQuAD-format files.
    """
    from langmix.paths import data_dir

    if spec in LAREQA_SHORTCUTS:
        root = Path(data_root) if data_root is not None else data_dir()
        if root is None:
            raise LangmixError(
                f"--data {spec}: set LANGMIX_DATA_DIR (a folder holding lareqa/{spec}/<lang>.json) "
                "or give the folder path"
            )
        ds = load_squad_parallel(root / "lareqa" / spec, name=spec, languages=languages, passage=passage)
    elif spec == "mmarco" or spec.startswith("mmarco:"):
        if not languages:
            raise LangmixError("--data mmarco needs --languages (e.g. en,de,zh)")
        path = spec.split(":", 1)[1] if ":" in spec else "unicamp-dl/mmarco"
        ds = load_mmarco(languages, path=path, max_items=max_items, streaming=max_items is not None)
    else:
        path = Path(spec)
        if path.suffix == ".jsonl":
            ds = load_parallel_jsonl(path, languages=languages)
        elif path.is_dir():
            ds = load_squad_parallel(path, languages=languages, passage=passage)
        elif not path.exists():
            raise DataError(
                path, "not found (expected a folder of <lang>.json, a .jsonl file, mlqa-r, xquad-r or mmarco)"
            )
        else:
            raise DataError(
                path, "unknown training-data format (expected a folder of <lang>.json or a .jsonl file)"
            )
    if max_items is not None and len(ds) > max_items:
        ds = ParallelDataset(ds.name, ds.items[:max_items], ds.source, ds.complete, ds.skipped)
    return ds


def _rank(seed: int, qid: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{qid}".encode()).digest()


def split_validation(
    dataset: ParallelDataset, *, fraction: float = 0.05, n: int | None = None, seed: int = 0
) -> tuple[ParallelDataset, ParallelDataset]:
    """Hold out whole ids: ``n`` (or ``fraction`` of) ids chosen by a seeded hash of the id, so the split
    depends only on (seed, id) — not on file order — and no id is on both sides."""
    total = len(dataset)
    n_val = n if n is not None else max(1, round(total * fraction))
    if not 0 < n_val < total:
        raise LangmixError(
            f"{dataset.name}: cannot hold out {n_val} of {total} ids for validation (need 0 < n < {total})"
        )
    ranked = sorted(dataset.ids, key=lambda qid: _rank(seed, qid))
    val_ids = set(ranked[:n_val])
    train = [item for item in dataset.items if item.id not in val_ids]
    val = [item for item in dataset.items if item.id in val_ids]
    return (
        ParallelDataset(dataset.name, train, dataset.source, dataset.complete, list(dataset.skipped)),
        ParallelDataset(f"{dataset.name}-validation", val, dataset.source, dataset.complete),
    )
