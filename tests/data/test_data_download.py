"""fetch(): a local http.server serves small IDX .gz files; success, mismatch, truncation, 404."""

import gzip
import hashlib
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from gradkit.data import DataError, default_cache_dir, fetch, list_datasets, load
from gradkit.data.download import REMOTES

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


RNG = np.random.default_rng(0)
TRAIN_IMAGES = RNG.integers(0, 256, size=(6, 4, 4)).astype(np.uint8)
TRAIN_LABELS = np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)
TEST_IMAGES = RNG.integers(0, 256, size=(3, 4, 4)).astype(np.uint8)
TEST_LABELS = np.array([7, 8, 9], dtype=np.uint8)
FILES = dict(zip(NAMES, map(idx_gz, [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS])))
CHECKSUMS = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        folder, _, name = self.path.rpartition("/")
        self.server.requests.append(name)
        body = self.server.files.get(name) if folder == "/mnist" else None
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        announced = len(body) + (1000 if name in self.server.truncate else 0)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # shorter than announced: the client sees EOF early

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.truncate, httpd.requests = dict(FILES), set(), []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/mnist"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def fetch_local(server, cache_dir, **kwargs):
    return fetch("mnist", cache_dir=cache_dir, base_url=server.url, checksums=CHECKSUMS,
                 timeout=10, **kwargs)


def test_fetch_then_load(server, tmp_path):
    calls = []
    folder = fetch_local(server, tmp_path, progress=lambda *args: calls.append(args))
    assert folder == tmp_path / "datasets" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)
    for name in NAMES:
        assert (folder / name).read_bytes() == FILES[name]
    assert ("t10k-labels-idx1-ubyte.gz", len(FILES["t10k-labels-idx1-ubyte.gz"]),
            len(FILES["t10k-labels-idx1-ubyte.gz"])) in calls
    train = load("mnist", cache_dir=tmp_path)
    np.testing.assert_array_equal(train.X, TRAIN_IMAGES)
    assert train.y.tolist() == TRAIN_LABELS.tolist()
    assert train.class_names == [str(d) for d in range(10)] and train.source == "mnist"
    test = load("mnist", split="test", cache_dir=tmp_path)
    np.testing.assert_array_equal(test.X, TEST_IMAGES)
    assert {i.name: i.available for i in list_datasets(cache_dir=tmp_path)}["mnist"]
    # A second fetch finds every file verified in place and downloads nothing.
    server.requests.clear()
    fetch_local(server, tmp_path)
    assert server.requests == []


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["train-labels-idx1-ubyte.gz"] = idx_gz(np.array([1, 1, 1, 1, 1, 1]))
    bad = server.files["train-labels-idx1-ubyte.gz"]
    with pytest.raises(DataError) as info:
        fetch_local(server, tmp_path)
    assert str(info.value) == (
        f"{server.url}/train-labels-idx1-ubyte.gz: checksum mismatch: SHA-256 of the {len(bad)} "
        f"bytes received is {hashlib.sha256(bad).hexdigest()}, expected "
        f"{CHECKSUMS['train-labels-idx1-ubyte.gz']}; the file was deleted")
    folder = tmp_path / "datasets" / "mnist"
    assert [p.name for p in folder.iterdir()] == ["train-images-idx3-ubyte.gz"]


def test_truncated_transfer_leaves_nothing(server, tmp_path):
    server.truncate.add("t10k-images-idx3-ubyte.gz")
    size = len(FILES["t10k-images-idx3-ubyte.gz"])
    with pytest.raises(DataError) as info:
        fetch_local(server, tmp_path)
    assert str(info.value) in (
        f"{server.url}/t10k-images-idx3-ubyte.gz: truncated download: received {size} of the "
        f"{size + 1000} bytes the server announced; try again",
        f"{server.url}/t10k-images-idx3-ubyte.gz: truncated download: received {size} bytes "
        "before the connection closed; try again")
    folder = tmp_path / "datasets" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES[:2])
    with pytest.raises(DataError) as info:
        load("mnist", cache_dir=tmp_path)
    assert "is not downloaded yet" in str(info.value)


def test_missing_file_on_server(server, tmp_path):
    with pytest.raises(DataError) as info:
        fetch("fashion-mnist", cache_dir=tmp_path, base_url=server.url + "/nothing-here/",
              checksums=CHECKSUMS, timeout=10)
    assert str(info.value) == (f"{server.url}/nothing-here/train-images-idx3-ubyte.gz: "
                               "download failed: HTTP 404 Not Found")
    assert list((tmp_path / "datasets" / "fashion-mnist").iterdir()) == []


def test_corrupt_cached_file_is_replaced(server, tmp_path):
    folder = tmp_path / "datasets" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    fetch_local(server, tmp_path)
    assert (folder / "train-labels-idx1-ubyte.gz").read_bytes() == \
        FILES["train-labels-idx1-ubyte.gz"]


def test_checksum_arguments_are_checked(tmp_path):
    with pytest.raises(DataError) as info:
        fetch("mnist", cache_dir=tmp_path, checksums={"train-images.gz": "0" * 64})
    assert str(info.value).startswith("checksums names an unknown file 'train-images.gz'")
    with pytest.raises(DataError) as info:
        fetch("mnist", cache_dir=tmp_path, checksums={NAMES[0]: "abc"})
    assert str(info.value) == (f"checksum for {NAMES[0]} must be 64 hex digits (SHA-256), "
                               "got 'abc'")
    with pytest.raises(DataError) as info:
        fetch("cifar10", cache_dir=tmp_path)
    assert str(info.value) == "no downloadable data set 'cifar10'; choose from mnist, fashion-mnist"


def test_cache_dir_default_comes_from_gradkit_home(tmp_path, monkeypatch, server):
    monkeypatch.setenv("GRADKIT_HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home"
    fetch("mnist", base_url=server.url, checksums=CHECKSUMS, timeout=10)
    assert len(load("mnist")) == 6
    monkeypatch.delenv("GRADKIT_HOME")
    assert default_cache_dir().parts[-2:] == (".cache", "gradkit")


def test_known_checksums_cover_the_published_files():
    for remote in REMOTES.values():
        assert list(remote.sha256) == NAMES
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in remote.sha256.values())
        assert len(remote.class_names) == 10
