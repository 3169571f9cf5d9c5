"""Two processes writing one embeddings folder or embedding cache at once both finish, with correct files.

The first process is held inside its first model call (after it has opened its temporary shard) until the
second one has started, so the two always overlap: before per-folder locks and per-process temporary names,
the second deleted the first one's live temporaries as stale and wrote into the same file names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from tests.retrieval.slow_encoder import SlowEncoder, encode_folder, fill_cache, passages

from langmix.models.encoder import Encoder

REPO = Path(__file__).resolve().parents[2]


def _run_pair(first: str, second: str, folder: Path, barrier: Path) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "tests.retrieval.slow_encoder"]
    procs = [
        subprocess.Popen(
            [*command, mode, str(folder), str(barrier)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in (first, second)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("shard-")}


def test_two_encoders_into_one_folder(tmp_path):
    folder = tmp_path / "emb"
    results = _run_pair("encode", "late-encode", folder, tmp_path / "go")
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
        assert "done" in result.stdout
    encode_folder(tmp_path / "alone", SlowEncoder())  # the same corpus, one process, no contention
    assert _files(folder) == _files(tmp_path / "alone")
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temporaries left
    assert any("waiting" in r.stderr for r in results)  # the second one said why it paused


def test_two_processes_fill_one_embedding_cache(tmp_path):
    root = tmp_path / "cache"
    results = _run_pair("cache", "late-cache", root, tmp_path / "go")
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    expected = fill_cache(tmp_path / "alone", SlowEncoder())
    encoder = Encoder(SlowEncoder(), use_cache=True, fingerprint="slow", cache_root=root, precision="fp32")
    vectors, stats = encoder.encode([text for _, text in passages()], "passage")
    assert stats.from_cache == len(passages()) and stats.encoded == 0
    np.testing.assert_array_equal(vectors, expected)
    assert not [p for p in root.rglob(".*") if p.is_file()]  # no temporaries left


def test_only_temporaries_of_gone_processes_are_stale():
    from langmix.io import is_stale, temp_tag

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(gone.stdout)
    mine = f".shard-00000.npy{temp_tag()}"
    assert not is_stale(mine)  # this process is alive
    assert is_stale(mine.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    assert not is_stale(mine.replace(f"-{os.getpid()}-", "-1-"))  # alive (init), whoever owns it
    assert not is_stale(".shard-00000.npy.tmp-otherhost-999999-00ff")  # another machine's: never judged here
    assert not is_stale("shard-00000.npy")
