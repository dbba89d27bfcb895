"""`gradkit search` refuses, before its study and without leaving a folder, what every trial
would fail on, and never waits on a file or a server that does not answer."""

import os
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("optuna")

TINY = ["--trials", "2", "--epochs", "1", "--finalists", "0", "--quiet"]


def test_single_class_data_is_refused_before_the_study(tmp_path, kit):
    data = tmp_path / "one.csv"
    rng = np.random.default_rng(0)
    data.write_text("a,b,y\n" + "".join(f"{a:.3f},{b:.3f},1\n" for a, b in rng.random((60, 2))))
    out = tmp_path / "search"
    result = kit.run("search", data, *TINY, "--out", out)
    assert result.exit_code == 2
    assert "every sample has the same class" in kit.error_line(result)
    assert not out.exists()


def test_a_space_whose_smallest_network_is_over_the_memory_budget_is_refused(tmp_path, kit,
                                                                            monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    space = tmp_path / "space.json"
    space.write_text('{"width": {"low": 100000000, "high": 100000001}}')
    out = tmp_path / "search"
    result = kit.run("search", "xor", *TINY, "--space", space, "--out", out)
    assert result.exit_code == 2
    line = kit.error_line(result)
    assert "smallest network" in line and "width=100000000" in line
    assert "memory budget" in line
    assert not out.exists()


def test_a_space_with_a_network_that_fits_runs(tmp_path, kit, monkeypatch):
    monkeypatch.setenv("GRADKIT_MEMORY_LIMIT", "1G")
    space = tmp_path / "space.json"
    space.write_text('{"width": {"choices": [100000000, 4]}, "depth": 1}')
    out = tmp_path / "search"
    result = kit.run("search", "xor", *TINY, "--space", space, "--out", out,
                     "--sampler", "random")
    assert "smallest network" not in result.stderr
    assert (out / "study.journal").exists()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_journal_that_is_no_regular_file_is_refused_at_once(tmp_path, kit, kind):
    out = tmp_path / "search"
    out.mkdir()
    journal = out / "study.journal"
    if kind == "fifo":
        os.mkfifo(journal)
    else:
        journal.mkdir()
    result = kit.run("search", "xor", *TINY, "--out", out)
    assert result.exit_code == 2
    assert "not a regular file" in kit.error_line(result)
    assert sorted(os.listdir(out)) == ["study.journal"]


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers (any server that
    is not Dask's looks like this to Dask's handshake)."""
    server = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_scheduler_address_where_no_dask_answers_is_refused_in_bounded_time(
        tmp_path, kit, monkeypatch, silent_server):
    pytest.importorskip("distributed")
    from gradkit.practice import _search_checks

    monkeypatch.setattr(_search_checks, "ANSWER_SECONDS", 1.0)
    out = tmp_path / "search"
    start = time.monotonic()
    result = kit.run("search", "xor", *TINY, "--scheduler", silent_server, "--out", out)
    assert time.monotonic() - start < 10
    assert result.exit_code == 2
    assert kit.error_line(result) == (f"error: --scheduler {silent_server}: no Dask scheduler "
                                      "answered within 1 s")
    assert not out.exists()


@pytest.mark.parametrize("name", ["study.journal", "best.json"])
@pytest.mark.parametrize("flag", [None, "--resume", "--overwrite"])
def test_train_refuses_a_folder_that_holds_a_search(tmp_path, kit, name, flag):
    out = tmp_path / "search"
    out.mkdir()
    (out / name).write_text("{}\n")
    args = ["train", "xor", "--epochs", "1", "--out", out, "--quiet"] + ([flag] if flag else [])
    result = kit.run(*args)
    assert result.exit_code == 2
    assert f"holds a search ({name}), not a run" in kit.error_line(result)
    assert sorted(os.listdir(out)) == [name]
