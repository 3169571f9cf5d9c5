"""Retrieval benchmarks as *pools*: one corpus and the query groups searched in it.

MIRACL has one pool per language (monolingual search); a BEIR folder is one pool whose queries are scored
per ``lang`` field. A pool holds a corpus *factory* (a fresh passage stream per call), so a corpus of
millions of passages is read only while it is being encoded, never held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langmix.data.beir import UNLABELLED, Passage, Qrels, Queries, iter_corpus, load_beir
from langmix.data.miracl import (
    MIRACL_CORPUS_SIZES,
    MIRACL_HUB,
    check_languages,
    iter_miracl_corpus,
    load_miracl_topics,
)
from langmix.errors import LangmixError

PassageFactory = Callable[[], Iterable[Passage]]


@dataclass
class Pool:
    """One corpus and the query groups searched in it."""

    name: str
    passages: PassageFactory | None  # a fresh stream each call; None: score given runs only
    groups: dict[str, tuple[Queries, Qrels]]  # label (language) -> queries and qrels
    total: int | None = None  # passages, for the progress bar
    source: str = ""
    # groups left out because the qrels judge none of their queries: label -> number of queries. Scored,
    # they would be 0.0 and pull every macro mean down; evaluation records them as excluded instead.
    unjudged: dict[str, int] = field(default_factory=dict)


def _miracl_corpus(
    lang: str, corpus: str | Path | None, revision: str | None
) -> tuple[PassageFactory | None, int | None, str]:
    """Passage factory, passage count (when known) and source description of one MIRACL language."""
    if corpus is None:
        return None, None, ""
    if "{lang}" in str(corpus):
        path = Path(str(corpus).format(lang=lang))
        return (lambda: iter_corpus(path, lang=lang)), None, str(path)
    total = MIRACL_CORPUS_SIZES.get(lang) if str(corpus).startswith("hf://") else None
    source = f"{corpus}{'@' + revision if revision else ''}:{lang}"
    return (lambda: iter_miracl_corpus(lang, source=corpus, revision=revision)), total, source


def miracl_pools(
    languages: Sequence[str] | None,
    *,
    corpus: str | Path | None = MIRACL_HUB,
    revision: str | None = None,
    data_root: str | Path | None = None,
) -> list[Pool]:
    """One pool per MIRACL language. ``corpus``: ``hf://datasets/miracl/miracl-corpus`` (default, needs a
    network), a local folder in the hub's layout (``miracl-corpus-v1.0-<lang>/docs-*.jsonl[.gz]``), a
    path with ``{lang}`` (a ``corpus.jsonl`` or BEIR folder per language), or None (score run files only)."""
    pools = []
    for lang in check_languages(languages):
        topics = load_miracl_topics(lang, data_root)
        factory, total, source = _miracl_corpus(lang, corpus, revision)
        pools.append(Pool(lang, factory, {lang: (topics.queries, topics.qrels)}, total, source))
    return pools


def beir_pool(root: str | Path, split: str = "test", *, by_language: bool = True) -> Pool:
    """A BEIR folder as one pool; queries are grouped by their ``lang`` field (``all`` when absent).

    A group none of whose queries the split judges is left out of ``groups`` and listed in ``unjudged``.
    """
    data = load_beir(root, split)
    groups: dict[str, tuple[Queries, Qrels]] = {}
    unjudged: dict[str, int] = {}
    split_queries = data.queries.by_language() if by_language else {None: data.queries}
    for lang, queries in split_queries.items():
        label = lang or UNLABELLED
        qrels = data.qrels.subset(queries.ids)
        if qrels.judgments:
            groups[label] = (queries, qrels)
        else:
            unjudged[label] = len(queries)
    known = set(data.queries.ids)
    judged_without_query = [q for q in data.qrels.judgments if q not in known]
    if judged_without_query:
        # under -c they would count as 0 but belong to no language: say so rather than guess
        raise LangmixError(
            f"{root}: {len(judged_without_query)} judged queries of split {split!r} are not in "
            f"queries.jsonl, e.g. {judged_without_query[0]!r}"
        )
    return Pool(
        Path(root).name or "beir",
        lambda: data.iter_corpus(),
        groups,
        None,
        str(data.corpus_path),
        unjudged,
    )
