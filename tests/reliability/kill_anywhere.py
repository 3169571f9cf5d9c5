"""Kill-anywhere test (issue 10): SIGKILL ``langmix encode``, ``index``, ``train`` and ``experiment`` at
random moments, rerun each until it completes, and check that the result equals an uninterrupted run's and
that no interrupted run ever left a partial result that looks complete.

    python tests/reliability/kill_anywhere.py --seed 0 --kills 24          # all four commands, ~15 min
    python tests/reliability/kill_anywhere.py --commands encode,index --kills 4

For each command the script first runs it uninterrupted (the reference, whose duration T it measures, and
the moments t0 and t1 of its first and last write). Then, seeded, it starts the command in a fresh folder,
kills its whole process group with SIGKILL at a random moment, checks what was left, reruns it (``train``
with ``--resume auto``), possibly kills again (at most three times in a row), until it completes, and
compares the final outputs with the reference. Kill moments are uniform in [0, T]; with ``--late-share``
p (default 0.5) a share p of them is uniform in [t0 - 0.25 s, t1 + 0.25 s] instead, because on a busy
machine most of T is Python start-up and exit, where a kill tests little.

Every command runs at the same absolute path as its reference (the reference is moved aside afterwards),
so paths recorded in its outputs compare equal, and imports one copy of ``src/`` taken at the start.
Measured times (``*_runtime``, ``*_per_second``, ``created``, an evaluation's ``timings``) and an
evaluation's count of vectors found in the cache are left out of the comparisons; everything else must be
equal:

- encode: every shard file byte-identical, the manifest equal;
- index: ``index.faiss`` and ``ids.npy`` byte-identical, ``index.json`` equal, the folder loads verified;
  half the trials write over an older index of other vectors, so a torn replacement would show;
- train: every tensor of ``model/model.safetensors`` equal and the model's other files byte-identical
  (its README.md, which quotes the training log, is only noted, and not for its training time), the
  batch log, ``batch_composition.json``, ``log_history.json``, ``config.yaml`` and ``run.json`` equal
  (``resumed_from`` and ``resume`` excepted: they say that the run was resumed);
- experiment: the same for each run's training, each evaluation's ``metrics.json`` and ``per_query.npz``,
  each run's ``identity.json``, ``summary.json``; nothing set aside in ``stale/``.

After every kill: a completion marker (a manifest marked complete, an index folder, ``run.json`` with a
``result``, a ``model/`` folder, a ``metrics.json``, ``summary.json``) only ever marks whole output equal
to the reference's.

Exit status 0 when every comparison and every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__test__ = False  # a script run by tests/reliability/test_kill_anywhere.py, not a test module itself

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COMMANDS = ("encode", "index", "train", "experiment")
MAX_KILLS_IN_A_ROW = 3  # then the next rerun goes uninterrupted, so every trial ends
# the writing window is widened by this much on each side: an index is written within a few milliseconds,
# and a rerun's timing differs from the reference's
MARGIN = 0.25
# keys whose values are measured times (or the moment of writing), different in any two runs
VOLATILE_KEYS = {"created", "runtime_s", "build_seconds", "train_seconds", "total_flos"}
VOLATILE_SUFFIXES = ("_runtime", "_per_second", "_seconds")
# outputs of a resumed run that say so, by design
RESUME_KEYS = {"resume", "resumed_from"}
# what an evaluation's metrics.json says about the work it did (how long it took, how many vectors came from
# the embedding cache, which a rerun finds filled by its killed predecessor), not about its results
EVALUATION_WORK_KEYS = {"timings", "encoding"}


def snapshot_code(work: Path) -> Path:
    """A copy of ``src/`` that every command run by this test imports (``PYTHONPATH`` comes before the
    editable install): the tree may be edited while the test runs, and all runs must be of the same code.
    (This process's own checks import the tree as it is.)"""
    code = work / "code"
    shutil.copytree(REPO / "src", code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return code


def data_dir() -> Path:
    """The real data folder, found as the test suite finds it."""
    return Path(os.environ.get("LANGMIX_DATA_DIR") or REPO.parent / "shared" / "data")


# ------------------------------------------------------------------------------------------------ comparing
def json_differences(ref: Any, got: Any, where: str = "", ignore: Iterable[str] = ()) -> list[str]:
    """Every path where two JSON documents differ, measured times and ``ignore`` keys left out."""
    ignore = set(ignore)
    if isinstance(ref, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(ref) | set(got), key=str):
            if key in VOLATILE_KEYS or key in ignore or str(key).endswith(VOLATILE_SUFFIXES):
                continue
            if key not in ref or key not in got:
                out.append(f"{where}.{key}: only in {'the rerun' if key in got else 'the reference'}")
            else:
                out.extend(json_differences(ref[key], got[key], f"{where}.{key}", ignore))
        return out
    if isinstance(ref, list) and isinstance(got, list):
        if len(ref) != len(got):
            return [f"{where}: {len(ref)} entries in the reference, {len(got)} in the rerun"]
        return [
            d
            for i, (a, b) in enumerate(zip(ref, got, strict=True))
            for d in json_differences(a, b, f"{where}[{i}]", ignore)
        ]
    return [] if ref == got else [f"{where}: {_short(ref)} in the reference, {_short(got)} in the rerun"]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def json_file_differences(ref: Path, got: Path, ignore: Iterable[str] = ()) -> list[str]:
    if not got.is_file():
        return [f"{got.name}: missing"]
    return [f"{got.name}{d}" for d in json_differences(read_json(ref), read_json(got), "", ignore)]


def bytes_differences(ref: Path, got: Path, label: str | None = None) -> list[str]:
    label = label or got.name
    if not got.is_file():
        return [f"{label}: missing"]
    return [] if ref.read_bytes() == got.read_bytes() else [f"{label}: bytes differ"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_differences(ref: Path, got: Path) -> list[str]:
    """Tensor-by-tensor comparison of two ``model.safetensors`` (bytes may differ only in the header)."""
    from safetensors.numpy import load_file

    if not got.is_file():
        return [f"{got}: missing"]
    a, b = load_file(str(ref)), load_file(str(got))
    if set(a) != set(b):
        return [f"{got.name}: tensors {sorted(set(a) ^ set(b))} only in one of the two"]
    differing = [k for k in a if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k])]
    return [f"{got.name}: tensor {k} differs" for k in differing[:3]] + (
        [f"{got.name}: {len(differing) - 3} more tensors differ"] if len(differing) > 3 else []
    )


def model_differences(ref: Path, got: Path) -> tuple[list[str], list[str]]:
    """(differences, notes) between two saved models: the weights must be equal tensor by tensor and the
    other files byte-identical; the model card (README.md, it quotes the training log) is only noted, and
    not for its training time."""
    if not got.is_dir():
        return [f"{got}: missing"], []
    diffs = weights_differences(ref / "model.safetensors", got / "model.safetensors")
    notes = []
    names = {p.relative_to(ref) for p in ref.rglob("*") if p.is_file()}
    names |= {p.relative_to(got) for p in got.rglob("*") if p.is_file()}
    for name in sorted(names - {Path("model.safetensors"), Path("README.md")}):
        diffs += bytes_differences(ref / name, got / name, f"model/{name}")
    if card_text(ref / "README.md") != card_text(got / "README.md"):
        notes.append("model/README.md differs beyond its training-time line")
    return diffs, notes


def card_text(path: Path) -> list[str]:
    """A model card without the line that says how many seconds training took."""
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.endswith(" seconds")]


def npz_differences(ref: Path, got: Path) -> list[str]:
    if not got.is_file():
        return [f"{got.name}: missing"]
    a, b = np.load(ref), np.load(got)
    if set(a.files) != set(b.files):
        return [f"{got.name}: arrays {sorted(set(a.files) ^ set(b.files))} only in one of the two"]
    return [
        f"{got.name}: array {k} differs"
        for k in a.files
        if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc")
    ]


# ------------------------------------------------------------------------------------------------ processes
@dataclass
class Outcome:
    rc: int | None
    killed: bool
    seconds: float
    first_output: float | None  # seconds until something new appeared in the command's folder
    started: float  # wall-clock start (time.time), to place file modification times


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def run_command(
    argv: list[str], env: dict[str, str], log: Path, kill_at: float | None, watch: Path
) -> Outcome:
    """Run ``argv`` in its own process group; SIGKILL the whole group ``kill_at`` seconds after the start
    (a killed job: its training subprocesses die with it). Notes when a new entry first appears in
    ``watch``."""
    before = {p.name for p in watch.iterdir()}
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}  (kill at {kill_at})\n".encode())
        out.flush()
        start, started = time.perf_counter(), time.time()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        first = None
        while proc.poll() is None:
            now = time.perf_counter() - start
            if first is None and any(p.name not in before for p in watch.iterdir()):
                first = now
            if kill_at is not None and now >= kill_at:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                deadline = time.perf_counter() + 10
                while group_alive(proc.pid) and time.perf_counter() < deadline:
                    time.sleep(0.05)
                return Outcome(None, True, time.perf_counter() - start, first, started)
            time.sleep(0.02)
        return Outcome(proc.returncode, False, time.perf_counter() - start, first, started)


def last_write(folder: Path, started: float) -> float:
    """Seconds from ``started`` to the last modification of anything under ``folder``."""
    return max((p.stat().st_mtime for p in folder.rglob("*")), default=started) - started


def leftovers(folder: Path) -> list[str]:
    """Temporaries still there after a completed run (names that langmix gives its work in progress)."""
    marks = (".tmp-", ".partial", ".old.tmp")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if any(m in p.name for m in marks))


# ------------------------------------------------------------------------------------------------ commands
@dataclass
class Tally:
    command: str
    trials: int = 0
    kills: int = 0
    runs: int = 0
    seconds: float = 0.0
    reference_s: float = 0.0
    bad_kills: int = 0  # kills after which a completion marker stood over partial or other output
    differences: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)

    @property
    def all_equal(self) -> bool:
        return not (self.differences or self.violations or self.failures)


class Command:
    """One langmix command under test. It always runs in ``work/<name>/`` writing ``work/<name>/out``."""

    name = ""

    def __init__(self, setup: Setup):
        self.setup = setup
        self.folder = setup.work / self.name
        self.out = self.folder / "out"
        self.ref = setup.work / "ref" / self.name

    def argv(self, resume: bool) -> list[str]:
        raise NotImplementedError

    def prepare(self, trial: int) -> None:
        """A fresh folder for a trial (or for the reference, trial -1)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def keep_reference(self) -> None:
        shutil.rmtree(self.ref, ignore_errors=True)
        self.ref.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.out, self.ref)

    def state_after_kill(self) -> tuple[str, list[str]]:
        """(what the kill left, in a few words; broken promises: a completion marker over partial output)."""
        raise NotImplementedError

    def final_differences(self) -> tuple[list[str], list[str]]:
        """(differences from the reference, notes) of a completed run."""
        raise NotImplementedError


class Encode(Command):
    name = "encode"

    def argv(self, resume: bool) -> list[str]:
        s = self.setup
        argv = [s.langmix, "encode", str(s.corpus), "--out", str(self.out), "--model", str(s.model)]
        # about 25 shards (the unit of resumption), so kills land between and inside them
        return [*argv, "--shard-size", str(max(1, s.passages // 25)), "--batch-size", "16"]

    def _listed_problems(self) -> tuple[dict[str, Any] | None, list[str]]:
        manifest = self.out / "manifest.json"
        if not manifest.exists():
            return None, []
        try:
            doc = read_json(manifest)
        except ValueError as exc:
            return None, [f"manifest.json is not whole JSON ({exc})"]
        problems = []
        for shard in doc.get("shards", []):
            stem = f"shard-{shard['index']:05d}"
            for ext in ("npy", "ids"):
                problems += bytes_differences(self.ref / f"{stem}.{ext}", self.out / f"{stem}.{ext}")
        ref = read_json(self.ref / "manifest.json")
        if doc.get("complete") and len(doc.get("shards", [])) != len(ref["shards"]):
            problems.append(
                f"manifest says complete with {len(doc['shards'])} of {len(ref['shards'])} shards"
            )
        return doc, [f"listed {p}" for p in problems]

    def state_after_kill(self) -> tuple[str, list[str]]:
        doc, problems = self._listed_problems()
        if doc is None:
            return "no manifest", problems
        total = len(read_json(self.ref / "manifest.json")["shards"])
        done = "complete" if doc.get("complete") else f"{len(doc.get('shards', []))}/{total} shards"
        return done, problems

    def final_differences(self) -> tuple[list[str], list[str]]:
        names = {p.name for p in self.ref.iterdir()} | {p.name for p in self.out.iterdir()}
        diffs = json_file_differences(self.ref / "manifest.json", self.out / "manifest.json")
        for name in sorted(names - {"manifest.json"}):
            diffs += bytes_differences(self.ref / name, self.out / name)
        return diffs, []


class Index(Command):
    """Odd trials write over an index of other vectors (built in-process), so a torn replacement shows."""

    name = "index"

    def argv(self, resume: bool) -> list[str]:
        s = self.setup
        return [s.langmix, "index", str(s.work / "ref" / "encode"), "--out", str(self.out), "--kind", "hnsw"]

    def prepare(self, trial: int) -> None:
        super().prepare(trial)
        if trial > 0 and trial % 2 == 1:
            shutil.copytree(self.setup.old_index, self.out)

    def _which(self) -> str:
        """Which index the folder holds: new | old | absent | torn: <why>."""
        from langmix.errors import LangmixError
        from langmix.retrieval.index import SearchIndex

        if not self.out.exists():
            return "absent"
        try:
            SearchIndex.load(self.out)  # verifies every file against index.json
        except LangmixError as exc:
            return f"torn: {exc}"
        for label, folder in (("new", self.ref), ("old", self.setup.old_index)):
            if all(
                (folder / n).read_bytes() == (self.out / n).read_bytes() for n in ("index.faiss", "ids.npy")
            ):
                return label
        return "torn: loads, but is neither the old nor the new index"

    def state_after_kill(self) -> tuple[str, list[str]]:
        which = self._which()
        return which.split(":")[0], [f"index folder {which}"] if which.startswith("torn") else []

    def final_differences(self) -> tuple[list[str], list[str]]:
        diffs = [] if self._which() == "new" else [f"index folder: {self._which()}"]
        for name in ("index.faiss", "ids.npy"):
            diffs += bytes_differences(self.ref / name, self.out / name)
        diffs += json_file_differences(self.ref / "index.json", self.out / "index.json")
        return diffs, []


def training_differences(ref: Path, got: Path) -> tuple[list[str], list[str]]:
    """A finished training folder against the reference's: weights, batches, composition, log, result."""
    diffs, notes = model_differences(ref / "model", got / "model")
    for name in ("batch_composition.json", "log_history.json"):
        diffs += json_file_differences(ref / name, got / name)
    if (ref / "batches.rank0.jsonl").exists():
        diffs += bytes_differences(ref / "batches.rank0.jsonl", got / "batches.rank0.jsonl")
    if not (got / "run.json").is_file():
        return [*diffs, "run.json: missing"], notes
    result = json_differences(read_json(ref / "run.json"), read_json(got / "run.json"), "", RESUME_KEYS)
    diffs += [f"run.json{d}" for d in result]
    config = json_differences(
        yaml.safe_load((ref / "config.yaml").read_text()), yaml.safe_load((got / "config.yaml").read_text())
    )
    diffs += [f"config.yaml{d}" for d in config if not d.startswith(".resume:")]
    return diffs, notes


def finished_training_problems(ref: Path, got: Path) -> list[str]:
    """A training folder after a kill: if ``run.json`` says finished, or ``model/`` exists, it is whole."""
    problems = []
    try:
        finished = (got / "run.json").exists() and "result" in read_json(got / "run.json")
    except ValueError as exc:
        return [f"{got.name}/run.json is not whole JSON ({exc})"]
    if finished:
        diffs, _ = training_differences(ref, got)
        problems += [f"run.json says finished, but {d}" for d in diffs]
    elif (got / "model").exists():
        problems += [f"model/ present but {d}" for d in model_differences(ref / "model", got / "model")[0]]
    return problems


class Train(Command):
    name = "train"

    def argv(self, resume: bool) -> list[str]:
        s = self.setup
        argv = [s.langmix, "train", "--data", "mlqa-r", "--languages", "en,de", "--max-items", "80"]
        argv += ["--model", str(s.model), "--batch-size", "8", "--max-steps", str(s.train_steps)]
        argv += ["--eval-steps", "1", "--logging-steps", "1", "--max-seq-length", "32", "--val-ids", "16"]
        argv += ["--lr", "1e-3", "--warmup", "0", "--precision", "fp32", "--threads", "1", "--batch-log"]
        argv += ["--seed", "3", "--out", str(self.out)]
        return [*argv, "--resume", "auto"] if resume else argv

    def state_after_kill(self) -> tuple[str, list[str]]:
        problems = finished_training_problems(self.ref, self.out)
        if (self.out / "run.json").exists() and "result" in read_json(self.out / "run.json"):
            return "finished", problems
        steps = sorted(int(p.name.rsplit("-", 1)[1]) for p in (self.out / "checkpoints").glob("checkpoint-*"))
        return (f"checkpoint {steps[-1]}" if steps else "no checkpoint"), problems

    def final_differences(self) -> tuple[list[str], list[str]]:
        diffs, notes = training_differences(self.ref, self.out)
        torn = sorted(p.name for p in (self.out / "checkpoints").glob("torn-*"))
        if torn:
            notes.append(f"torn checkpoints set aside: {', '.join(torn)}")
        return diffs, notes


class Experiment(Command):
    name = "experiment"

    def argv(self, resume: bool) -> list[str]:
        return [self.setup.langmix, "experiment", str(self.setup.experiment), "--out", str(self.out)]

    def _runs(self) -> list[str]:
        return sorted(p.name for p in (self.ref / "runs").iterdir())

    def state_after_kill(self) -> tuple[str, list[str]]:
        problems, trained, evaluated = [], 0, 0
        for run in self._runs():
            ref, got = self.ref / "runs" / run, self.out / "runs" / run
            problems += [f"{run}: {p}" for p in finished_training_problems(ref / "train", got / "train")]
            with contextlib.suppress(OSError, ValueError):
                trained += "result" in read_json(got / "train" / "run.json")
            metrics = got / "eval" / "xquad-r" / "metrics.json"
            if metrics.exists():
                evaluated += 1
                found = json_file_differences(
                    ref / "eval" / "xquad-r" / "metrics.json", metrics, EVALUATION_WORK_KEYS
                )
                problems += [f"{run}: metrics.json present but {d}" for d in found]
        if (self.out / "summary.json").exists():
            found = json_file_differences(self.ref / "summary.json", self.out / "summary.json")
            problems += [f"summary.json present but {d}" for d in found]
        n = len(self._runs())
        return f"trained {trained}/{n}, evaluated {evaluated}/{n}", problems

    def final_differences(self) -> tuple[list[str], list[str]]:
        diffs, notes = [], []
        for run in self._runs():
            ref, got = self.ref / "runs" / run, self.out / "runs" / run
            found, noted = training_differences(ref / "train", got / "train")
            ev_ref, ev_got = ref / "eval" / "xquad-r", got / "eval" / "xquad-r"
            found += json_file_differences(
                ev_ref / "metrics.json", ev_got / "metrics.json", EVALUATION_WORK_KEYS
            )
            found += npz_differences(ev_ref / "per_query.npz", ev_got / "per_query.npz")
            found += json_file_differences(ref / "identity.json", got / "identity.json")
            diffs += [f"{run}: {x}" for x in found]
            notes += [f"{run}: {x}" for x in noted]
        diffs += json_file_differences(self.ref / "summary.json", self.out / "summary.json")
        if (self.out / "stale").exists():
            diffs.append(f"stale/ holds {sorted(p.name for p in (self.out / 'stale').iterdir())}")
        return diffs, notes


# ------------------------------------------------------------------------------------------------ set-up
@dataclass
class Setup:
    """The inputs every command reads: a tiny model, a corpus, an old index, an experiment file."""

    work: Path
    langmix: str
    passages: int
    train_steps: int
    model: Path = Path()
    corpus: Path = Path()
    old_index: Path = Path()
    experiment: Path = Path()

    def build(self) -> None:
        from tests.tiny_model import build_tiny_model

        inputs = self.work / "inputs"
        inputs.mkdir(parents=True)
        lareqa = data_dir() / "lareqa"
        texts = []
        for lang in ("en", "de", "es"):
            for article in read_json(lareqa / "mlqa-r" / f"{lang}.json")["data"][:40]:
                for paragraph in article["paragraphs"]:
                    texts += [paragraph["context"], *(qa["question"] for qa in paragraph["qas"])]
        self.model = build_tiny_model(inputs / "model", texts)
        self.corpus = self._corpus(inputs / "corpus.jsonl", lareqa / "xquad-r")
        self.old_index = self._old_index(inputs / "old-index")
        self.experiment = self._experiment(inputs / "experiment.yaml")

    def _corpus(self, path: Path, xquad: Path) -> Path:
        """XQuAD-R sentences, the five languages interleaved, as a BEIR corpus.jsonl."""
        per_lang = []
        for lang in ("en", "de", "es", "ar", "zh"):
            doc = read_json(xquad / f"{lang}.json")
            per_lang.append(
                [
                    {"_id": f"{lang}-{a}-{p}-{s}", "text": sentence, "lang": lang}
                    for a, article in enumerate(doc["data"])
                    for p, paragraph in enumerate(article["paragraphs"])
                    for s, sentence in enumerate(paragraph["sentences"])
                ]
            )
        rows = [row for group in zip(*per_lang, strict=False) for row in group][: self.passages]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    def _old_index(self, path: Path) -> Path:
        from langmix.retrieval.index import build_index

        vectors = np.random.default_rng(7).standard_normal((self.passages, 32)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        build_index(vectors, ids=[f"old-{i}" for i in range(len(vectors))]).save(path)
        return path

    def _experiment(self, path: Path) -> Path:
        config = {
            "name": "kill-anywhere",
            "output_dir": str(self.work / "experiment" / "out"),
            "train": {
                "model": str(self.model),
                "data": ["mlqa-r"],
                "languages": ["en", "de"],
                "max_items": 400,
                "max_steps": 3,
                "batch_size": 4,
                "max_seq_length": 24,
                "val_fraction": 0.0,
                "warmup": 0,
                "logging_steps": 1,
                "eval_steps": 1,
                "learning_rate": 0.001,
                "precision": "fp32",
                "threads": 1,
            },
            "strategies": ["mono", "cross"],
            "seeds": [1],
            "include_base": False,
            "evaluate": ["xquad-r"],
            "eval_languages": ["en", "de"],
            "eval_max_questions": 8,
            "eval_precision": "fp32",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path


# ------------------------------------------------------------------------------------------------ the test
def split_kills(total: int, commands: list[str]) -> dict[str, int]:
    """``total`` kills spread over ``commands`` as evenly as possible (the later commands get the rest)."""
    base, extra = divmod(total, len(commands))
    return {c: base + (i >= len(commands) - extra) for i, c in enumerate(commands)}


def exercise(
    command: Command,
    kills: int,
    rng: random.Random,
    env: dict[str, str],
    late_share: float,
    say: Callable[[str], None],
) -> Tally:
    """The reference run, then trials of kill-and-rerun until ``kills`` kills were made."""
    tally = Tally(command.name)
    log = command.setup.work / f"{command.name}.log"
    begin = time.perf_counter()
    command.prepare(-1)
    ref = run_command(
        command.argv(False),
        {**env, "LANGMIX_CACHE": str(command.folder / "cache")},
        log,
        None,
        command.folder,
    )
    if ref.rc != 0:
        tally.failures.append(f"the uninterrupted run failed (exit {ref.rc}); see {log}")
        say(f"{command.name}: the uninterrupted run FAILED (exit {ref.rc}); see {log}")
        return tally
    duration, first = ref.seconds, ref.first_output or 0.0
    last = min(max(last_write(command.folder, ref.started), first), duration)
    command.keep_reference()
    tally.reference_s = duration
    say(f"{command.name}: reference {duration:.1f} s, writing from {first:.1f} s to {last:.1f} s")

    while tally.kills < kills:
        tally.trials += 1
        command.prepare(tally.trials)
        trial_env = {**env, "LANGMIX_CACHE": str(command.folder / "cache")}
        in_a_row, launches = 0, 0
        while True:
            kill_at = None
            if tally.kills < kills and in_a_row < MAX_KILLS_IN_A_ROW:
                late = rng.random() < late_share
                window = (max(0.0, first - MARGIN), min(duration, last + MARGIN))
                kill_at = rng.uniform(*window) if late else rng.uniform(0.0, duration)
            outcome = run_command(command.argv(launches > 0), trial_env, log, kill_at, command.folder)
            launches += 1
            tally.runs += 1
            if outcome.killed:
                tally.kills += 1
                in_a_row += 1
                state, problems = command.state_after_kill()
                tally.states[state] += 1
                tally.bad_kills += bool(problems)
                where = f"trial {tally.trials}, kill at {kill_at:.2f} s"
                tally.violations += [f"{where}: {p}" for p in shown(problems)]
                say(
                    f"  trial {tally.trials}: killed at {kill_at:5.2f} s -> {state}"
                    + (" VIOLATION" if problems else "")
                )
                continue
            if outcome.rc != 0:
                tally.failures.append(
                    f"trial {tally.trials}: a rerun failed with exit {outcome.rc}; see {log}"
                )
                say(f"  trial {tally.trials}: rerun FAILED (exit {outcome.rc})")
                break
            diffs, notes = command.final_differences()
            left = leftovers(command.folder)
            if left:
                notes.append(f"temporaries left after completing: {', '.join(left[:4])}")
            tally.differences += [f"trial {tally.trials}: {d}" for d in shown(diffs)]
            tally.notes += [f"trial {tally.trials}: {n}" for n in notes]
            verdict = "equal" if not diffs else "DIFFERENT"
            say(f"  trial {tally.trials}: completed in {outcome.seconds:.1f} s -> {verdict}")
            break
    tally.seconds = time.perf_counter() - begin
    return tally


def encode_reference(setup: Setup, env: dict[str, str]) -> None:
    """The embeddings ``index`` reads, when ``encode`` itself is not under test."""
    encode = Encode(setup)
    encode.prepare(-1)
    if run_command(encode.argv(False), env, setup.work / "encode.log", None, encode.folder).rc != 0:
        raise SystemExit(f"encoding the corpus for the index failed; see {setup.work / 'encode.log'}")
    encode.keep_reference()


ROW = "{:<11} {:>5} {:>6} {:>7} {:>6} {:>9} {:>14} {:>7}  {}"
SHOWN = 8  # differences shown per kill or per trial; the rest are counted


def print_summary(tallies: list[Tally], seed: int, say: Callable[[str], None]) -> None:
    """The table of the issue's note, then every difference, broken promise, failure and note."""
    say("")
    say(f"kill-anywhere, seed {seed}")
    head = ("command", "kills", "trials", "reruns", "ref s", "all equal", "marked-but-bad", "time s")
    say(ROW.format(*head, "left by the kills"))
    for t in tallies:
        states = ", ".join(f"{k} x{v}" for k, v in sorted(t.states.items()))
        equal = "yes" if t.all_equal else "NO"
        row = (t.command, t.kills, t.trials, t.runs - t.trials, f"{t.reference_s:.1f}", equal, t.bad_kills)
        say(ROW.format(*row, f"{t.seconds:.0f}", states))
    total = [sum(getattr(t, k) for t in tallies) for k in ("kills", "trials", "runs", "bad_kills", "seconds")]
    equal = "yes" if all(t.all_equal for t in tallies) else "NO"
    say(
        ROW.format(
            "total", total[0], total[1], total[2] - total[1], "", equal, total[3], f"{total[4]:.0f}", ""
        )
    )
    for t in tallies:
        for label, items in (
            ("DIFFERENT", t.differences),
            ("MARKED COMPLETE BUT NOT WHOLE OR NOT EQUAL", t.violations),
            ("FAILED", t.failures),
            ("note", t.notes),
        ):
            for item in items:
                say(f"{t.command}: {label}: {item}")


def shown(items: list[str]) -> list[str]:
    """The first few of a list of differences, and how many more there are."""
    return items[:SHOWN] + ([f"... and {len(items) - SHOWN} more"] if len(items) > SHOWN else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=24, help="kills in all, spread over the commands")
    parser.add_argument(
        "--commands", default=",".join(COMMANDS), help="comma-separated subset of " + ", ".join(COMMANDS)
    )
    parser.add_argument(
        "--late-share",
        type=float,
        default=0.5,
        help="share of kills drawn from the reference's writing window",
    )
    parser.add_argument("--passages", type=int, default=5000, help="corpus size for encode and index")
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one, removed)")
    parser.add_argument("--langmix", default=str(REPO / ".venv" / "bin" / "langmix"))
    args = parser.parse_args(argv)
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    if not commands or set(commands) - set(COMMANDS):
        parser.error(f"--commands: choose among {', '.join(COMMANDS)}")

    def say(line: str) -> None:
        print(line, flush=True)

    keep = args.work is not None
    work = args.work or Path(tempfile.mkdtemp(prefix="kill-anywhere-"))
    work.mkdir(parents=True, exist_ok=True)
    code = snapshot_code(work)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
        "LANGMIX_DATA_DIR": str(data_dir()),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    try:
        start = time.perf_counter()
        setup = Setup(work, args.langmix, args.passages, args.train_steps)
        setup.build()
        say(f"inputs ready in {time.perf_counter() - start:.0f} s under {work}")
        rng = random.Random(args.seed)
        quota = split_kills(args.kills, commands)
        kinds = {"encode": Encode, "index": Index, "train": Train, "experiment": Experiment}
        tallies = []
        for name in COMMANDS:
            if name in commands:
                if name == "index" and not (work / "ref" / "encode").exists():
                    encode_reference(setup, env)
                tallies.append(exercise(kinds[name](setup), quota[name], rng, env, args.late_share, say))
        print_summary(tallies, args.seed, say)
        say(f"total {time.perf_counter() - start:.0f} s")
        return 0 if all(t.all_equal for t in tallies) else 1
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
