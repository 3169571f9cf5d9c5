"""`langmix data fetch` end to end against a local HTTP server serving copies of the real LAReQA files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langmix.cli import app
from langmix.data.benchmarks import BENCHMARKS, Benchmark, DataFile
from langmix.data.fetch import benchmark_root, download_file, fetch, missing_files
from langmix.data.parallel import load_parallel
from langmix.data.squad import sha256_file
from langmix.errors import DataError, LangmixError

SMALL = ("lareqa/xquad-r/de.json", "lareqa/xquad-r/en.json", "lareqa/mlqa-r/LICENSE")


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/short/<path>`` announces the whole file but sends half of it, ``/nolength/<path>``
    sends half without a Content-Length. Every GET is recorded in ``server.requests``."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        for prefix in ("/short/", "/nolength/"):
            if self.path.startswith(prefix):
                return self._half(Path(self.directory) / self.path[len(prefix) :], prefix == "/short/")
        return super().do_GET()

    def _half(self, path: Path, announce_all: bool) -> None:
        body = path.read_bytes()
        self.send_response(200)
        if announce_all:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def mirror(tmp_path, data_dir) -> Path:
    """A copy of three small real files in the data-root layout."""
    root = tmp_path / "mirror"
    for rel in SMALL:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, root / rel)
    return root


@pytest.fixture
def tiny(monkeypatch, data_dir) -> Benchmark:
    """A registered benchmark made of the three small files, pinned to their real checksums."""
    files = tuple(DataFile(rel, rel, sha256_file(data_dir / rel)) for rel in SMALL)
    bench = Benchmark(
        name="tiny",
        folder="lareqa/xquad-r",
        repo="example/none",
        revision="0" * 40,
        languages=("de", "en"),
        licence="CC BY-SA 4.0",
        metric="mAP",
        counts={},
        files=files,
    )
    monkeypatch.setitem(BENCHMARKS, "tiny", bench)
    return bench


@pytest.fixture
def fresh(tmp_path, monkeypatch) -> Path:
    """A machine without a data folder: LANGMIX_DATA_DIR unset, an empty cache."""
    monkeypatch.delenv("LANGMIX_DATA_DIR", raising=False)
    monkeypatch.delenv("LANGMIX_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LANGMIX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


class Recorder:
    def __init__(self) -> None:
        self.tasks: dict[str, list[int | None]] = {}

    @contextmanager
    def task(self, label: str, total: int | None) -> Iterator:
        self.tasks[label] = [total, 0]
        yield lambda n: self.tasks[label].__setitem__(1, self.tasks[label][1] + n)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_fetch_checks_lands_and_skips_what_is_there(fresh, mirror, tiny, data_dir):
    with pytest.raises(LangmixError, match="langmix data fetch tiny"):
        benchmark_root(tiny)
    progress, logs = Recorder(), []
    with serve(mirror) as (url, requests):
        fetched = fetch(["tiny"], mirror=url, progress=progress, log=logs.append)
        assert sorted(fetched) == sorted(fresh / rel for rel in SMALL)
        assert len(requests) == 3 and len(logs) == 1 and str(fresh / "lareqa/xquad-r") in logs[0]
        for rel in SMALL:
            assert (fresh / rel).read_bytes() == (data_dir / rel).read_bytes()
            size = (data_dir / rel).stat().st_size
            assert progress.tasks[rel] == [size, size]  # bytes, against the announced total
        assert missing_files(tiny, fresh) == []
        assert fetch(["tiny"], mirror=url) == [] and len(requests) == 3  # second fetch downloads nothing
    assert benchmark_root(tiny) == fresh  # the loaders now find the cache
    (fresh / SMALL[0]).write_text("{}")  # an altered file is fetched again
    with serve(mirror) as (url, requests):
        assert fetch(["tiny"], mirror=url) == [fresh / SMALL[0]] and len(requests) == 1


def test_mirror_from_the_environment_through_the_cli(fresh, mirror, tiny, monkeypatch):
    with serve(mirror) as (url, requests):
        monkeypatch.setenv("LANGMIX_DATA_MIRROR", url)
        result = CliRunner().invoke(app, ["data", "fetch", "tiny"])
    assert result.exit_code == 0, result.output
    assert len(requests) == 3 and missing_files(tiny, fresh) == []
    result = CliRunner().invoke(app, ["data", "list"])
    assert result.exit_code == 0 and "xquad-r" in result.output and "miracl" in result.output


def test_wrong_checksum_keeps_nothing(fresh, mirror, tiny):
    (mirror / SMALL[1]).write_bytes((mirror / SMALL[1]).read_bytes().replace(b"the", b"teh", 1))
    with serve(mirror) as (url, _), pytest.raises(DataError, match="does not match the pinned"):
        fetch(["tiny"], mirror=url)
    assert leftovers(fresh / "lareqa/xquad-r") == ["de.json"]  # fetched before; no en.json, no temporary


@pytest.mark.parametrize("prefix", ["short", "nolength"])
def test_truncated_download_keeps_nothing(tmp_path, mirror, tiny, prefix):
    rel = SMALL[0]
    target = tmp_path / "out" / rel
    expected = "download stopped after" if prefix == "short" else "does not match the pinned"
    with serve(mirror) as (url, _), pytest.raises(DataError, match=expected):
        download_file(f"{url}/{prefix}/{rel}", target, tiny.files[0].sha256)
    assert leftovers(tmp_path / "out") == []


def test_offline_is_one_line_naming_what_to_set(fresh, tiny):
    with pytest.raises(LangmixError, match="download failed") as err:
        fetch(["tiny"], mirror=closed_port_url())
    assert "\n" not in str(err.value) and leftovers(fresh) == []
    with pytest.raises(LangmixError, match="unknown benchmark nope"):
        fetch(["nope"])


def test_demo_fetches_its_data_then_runs(fresh, data_dir, monkeypatch):
    """With no data folder, demo fetches MLQA-R and XQuAD-R into the cache and runs on it."""
    seen = {}
    monkeypatch.setattr(
        "langmix.cli.demo.run_experiment_config", lambda config, data_dir: seen.update(root=data_dir)
    )
    with serve(data_dir) as (url, _):
        monkeypatch.setenv("LANGMIX_DATA_MIRROR", url)
        result = CliRunner().invoke(app, ["demo", "--out", str(fresh.parent / "run")])
    assert result.exit_code == 0, result.output
    assert seen["root"] == fresh and "fetching mlqa-r" in result.output
    ds = load_parallel("mlqa-r", languages=["en", "de"])  # found in the cache, LANGMIX_DATA_DIR unset
    assert ds.source == str(fresh / "lareqa/mlqa-r") and len(ds) == 1148


def test_demo_offline_fails_before_loading_a_model(fresh, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("demo went on to train without its data")

    monkeypatch.setattr("langmix.cli.demo.run_experiment_config", no_model)
    monkeypatch.setenv("LANGMIX_DATA_MIRROR", closed_port_url())
    result = CliRunner().invoke(app, ["demo"])
    assert isinstance(result.exception, LangmixError), result.output
    message = str(result.exception)
    assert (
        "\n" not in message
        and "LANGMIX_DATA_DIR" in message
        and "langmix data fetch mlqa-r xquad-r" in message
    )
    monkeypatch.setenv("LANGMIX_DATA_DIR", str(fresh.parent / "nothing-here"))
    result = CliRunner().invoke(app, ["demo"])
    assert isinstance(result.exception, LangmixError) and "has no lareqa/mlqa-r/" in str(result.exception)


def test_demo_offline_cli_prints_one_error_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LANGMIX_DATA_DIR"}
    env.update(LANGMIX_CACHE=str(tmp_path / "cache"), LANGMIX_DATA_MIRROR=closed_port_url())
    proc = subprocess.run(
        [sys.executable, "-m", "langmix", "demo", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("fetching mlqa-r: 8 file(s) from http://127.0.0.1:"), (
        proc.stderr
    )  # what, where
    assert [line for line in lines if "error" in line] == lines[-1:], proc.stderr
    assert lines[-1].startswith("error: cannot fetch mlqa-r xquad-r")
    assert not (tmp_path / "run").exists()  # nothing was trained or written
