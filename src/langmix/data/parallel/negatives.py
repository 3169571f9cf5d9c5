"""Hard negatives for SQuAD-format training data: other sentences of the answer's paragraph.

LAReQA's hardest distractors are the sentences around the answer: same paragraph, same topic, often the same
entities, but not the answer. Training on them (``--hard-negatives N``) is the paragraph analogue of mined
hard negatives. Per (question, language) version, :meth:`SentencePool.draw` picks ``N`` distinct sentences
of the answer's paragraph (never the answer's own text) with a generator keyed by (seed, language, question
id): the same seed gives the same negatives whatever the file order or the languages loaded, another seed
others.

A paragraph with fewer than ``N`` other sentences (MLQA-R: 4-10% of questions have a one-sentence paragraph,
about a third fewer than four sentences) is **topped up** with sentences drawn at random from the rest of the
same language's file, so every row has exactly ``N`` negatives: sentence-transformers' loss takes negatives as
columns, and a batch needs the same columns in every row (dropping such rows would drop the short paragraphs'
questions from training). The top-ups are easy negatives; :class:`NegativeCounts` says how many there were.
Negatives are drawn per language version, so a cross-lingual row, which takes the negatives of its passage's
language, contrasts the query with sentences in the passage's language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class NegativeCounts:
    """How many negatives came from the answer's paragraph and how many were topped up from elsewhere."""

    from_paragraph: int = 0
    topped_up: int = 0
    rows_topped_up: int = 0

    def describe(self) -> str:
        total = self.from_paragraph + self.topped_up
        share = self.topped_up / total if total else 0.0
        return (
            f"{self.from_paragraph} from the answer's paragraph, {self.topped_up} ({share:.0%}) topped up "
            f"from other paragraphs for {self.rows_topped_up} rows with short paragraphs"
        )


def negatives_rng(seed: int, lang: str, qid: str) -> np.random.Generator:
    """The generator of one (question, language) version: keyed, not sequential, so that a question's
    negatives do not depend on which questions or languages were read before it."""
    digest = hashlib.sha256(f"{lang}\x00{qid}".encode()).digest()
    return np.random.default_rng([int(seed), *np.frombuffer(digest[:16], dtype="<u4").tolist()])


class SentencePool:
    """The sentences of one language's file, by paragraph: what the negatives of its questions are drawn
    from. ``paragraph_of[i]`` is sentence ``i``'s paragraph."""

    def __init__(self, texts: Sequence[str], paragraph_of: Sequence[int]):
        self.texts = list(texts)
        self.paragraph_of = list(paragraph_of)
        self.members: dict[int, list[int]] = {}
        for i, paragraph in enumerate(self.paragraph_of):
            self.members.setdefault(paragraph, []).append(i)

    def draw(
        self, answer: int, n: int, rng: np.random.Generator, counts: NegativeCounts | None = None
    ) -> tuple[str, ...]:
        """``n`` distinct negatives for the answer sentence ``texts[answer]``: sentences of its paragraph
        first (a random choice if there are more), then sentences of other paragraphs. A text equal to the
        answer's is never a negative. Fewer than ``n`` distinct other texts in the whole file is a ValueError
        (the caller names the file)."""
        texts, paragraph = self.texts, self.paragraph_of[answer]
        chosen: list[str] = []
        seen = {texts[answer]}

        def take(candidates: Iterable[int]) -> None:
            for i in candidates:
                if len(chosen) == n:
                    return
                if texts[i] not in seen:
                    seen.add(texts[i])
                    chosen.append(texts[i])

        same = [i for i in self.members[paragraph] if i != answer]
        take(same[k] for k in rng.permutation(len(same)).tolist())
        from_paragraph = len(chosen)
        if from_paragraph < n:
            take(self._elsewhere(paragraph, n - from_paragraph, rng))
        if len(chosen) < n:
            raise ValueError(
                f"only {len(chosen)} distinct sentences other than the answer, {n} hard negatives asked"
            )
        if counts is not None:
            counts.from_paragraph += from_paragraph
            counts.topped_up += n - from_paragraph
            counts.rows_topped_up += from_paragraph < n
        return tuple(chosen)

    def _elsewhere(self, paragraph: int, need: int, rng: np.random.Generator) -> Iterator[int]:
        """Sentences of other paragraphs in random order, lazily: a few random draws first (a file has
        thousands of sentences), a full permutation only if those keep hitting texts already taken."""
        size = len(self.texts)
        for _ in range(8 * need):
            i = int(rng.integers(size))
            if self.paragraph_of[i] != paragraph:
                yield i
        for i in rng.permutation(size).tolist():
            if self.paragraph_of[i] != paragraph:
                yield i
