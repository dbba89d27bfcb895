"""Download MNIST and Fashion-MNIST into the cache, verified by SHA-256, written atomically.

Each file streams into a temporary file in the cache folder while its SHA-256 is computed; only
a complete file with the expected digest is fsync'ed and moved into place with `os.replace`, so
a reader never sees a half-written or unverified file. Anything else is deleted and reported.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gradkit.errors import DataError

# A mirror can be wrong or hostile; the digest is what makes the file trustworthy, so no file is
# accepted without one. Raise this only if a real data set file grows.
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Remote:
    """A downloadable data set: where its files live, their SHA-256 digests, its class names."""

    base_url: str
    sha256: dict[str, str]
    class_names: list[str]
    description: str


# ---------------------------------------------------------------------------------------------
# KNOWN CHECKSUMS. SHA-256 of the published .gz files (the digests torchvision, TensorFlow
# Datasets and others pin; MNIST from the PyTorch mirror, since yann.lecun.com stopped serving
# the files; Fashion-MNIST from Zalando Research's repository). Tests pass their own digests
# through `fetch(..., checksums=...)` instead of touching these.
# ---------------------------------------------------------------------------------------------
REMOTES = {
    "mnist": Remote(
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        sha256={
            "train-images-idx3-ubyte.gz":
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz":
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz":
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz":
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        class_names=[str(digit) for digit in range(10)],
        description="handwritten digits, 28x28 grayscale, 60k train / 10k test (download)",
    ),
    "fashion-mnist": Remote(
        base_url="https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
                 "data/fashion/",
        sha256={
            "train-images-idx3-ubyte.gz":
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz":
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz":
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz":
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        class_names=["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"],
        description="clothing images, 28x28 grayscale, 10 classes, 60k train / 10k test "
                    "(download)",
    ),
}


def default_cache_dir() -> Path:
    """`$GRADKIT_HOME`, else `~/.cache/gradkit`. Read here, at the boundary, and nowhere else."""
    home = os.environ.get("GRADKIT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "gradkit"


def dataset_dir(name: str, cache_dir=None) -> Path:
    """Where data set `name` lives: `<cache_dir>/datasets/<name>`."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "datasets" / name


def is_fetched(name: str, cache_dir=None) -> bool:
    """Whether all files of a downloadable data set are in the cache."""
    folder = dataset_dir(name, cache_dir)
    return all((folder / file_name).is_file() for file_name in REMOTES[name].sha256)


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open a folder, which is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stream_to(response, out, url: str, *, progress, label: str) -> tuple[str, int]:
    """Copy the response body into `out`; return (sha256 hex, bytes received)."""
    announced = response.headers.get("Content-Length")
    total = int(announced) if announced and announced.isdigit() else None
    digest, received = hashlib.sha256(), 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if received > MAX_DOWNLOAD_BYTES:
            raise DataError(f"{url}: download is larger than {MAX_DOWNLOAD_BYTES} bytes; refused")
        digest.update(chunk)
        out.write(chunk)
        if progress is not None:
            progress(label, received, total)
    if total is not None and received != total:
        raise DataError(f"{url}: truncated download: received {received} of the {total} bytes "
                        "the server announced; try again")
    return digest.hexdigest(), received


def download_verified(url: str, target, sha256: str, *, timeout: float = 60.0,
                      progress=None) -> Path:
    """Download `url` to `target` only if its SHA-256 equals `sha256`; atomic, nothing left over.

    Raises DataError on a network error, a truncated transfer or a digest mismatch; the temporary
    file is deleted in every failure case and `target` is left untouched.
    """
    import http.client
    import urllib.error
    import urllib.request

    target = Path(target)
    if not url.startswith(("https://", "http://", "file:")):
        raise DataError(f"download URL must start with https://, http:// or file:, got {url!r}")
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    actual, received = _stream_to(response, out, url, progress=progress,
                                                  label=target.name)
            except urllib.error.HTTPError as exc:
                raise DataError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from None
            except http.client.IncompleteRead as exc:
                raise DataError(f"{url}: truncated download: received {len(exc.partial)} bytes "
                                "before the connection closed; try again") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DataError(f"{url}: download failed: {reason}") from None
            out.flush()
            os.fsync(out.fileno())
        if actual != sha256:
            raise DataError(f"{url}: checksum mismatch: SHA-256 of the {received} bytes received "
                            f"is {actual}, expected {sha256}; the file was deleted")
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)
    return target


def canonical_remote(name: str) -> str:
    """"fashion_mnist", "Fashion-MNIST" -> "fashion-mnist"; DataError for unknown names."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in REMOTES:
        raise DataError(f"no downloadable data set {name!r}; choose from {', '.join(REMOTES)}")
    return key


def fetch(name: str, *, cache_dir=None, base_url: str | None = None,
          checksums: dict[str, str] | None = None, timeout: float = 60.0,
          progress=None) -> Path:
    """Download a data set's four IDX .gz files into `<cache_dir>/datasets/<name>/`.

    Files already present with the right SHA-256 are kept; others are (re)downloaded, verified,
    and moved into place atomically. Returns the folder, which `load(name)` reads.

    Args:
        name: "mnist" or "fashion-mnist".
        cache_dir: default `$GRADKIT_HOME`, else `~/.cache/gradkit`.
        base_url: mirror to download from (file names are appended); default the data set's own.
        checksums: {file name: SHA-256 hex} overriding the known digests (for mirrors or tests).
        timeout: seconds to wait on the network per request.
        progress: optional callable(file_name, bytes_done, bytes_total_or_None).
    """
    key = canonical_remote(name)
    remote = REMOTES[key]
    expected = dict(remote.sha256)
    for file_name, digest in (checksums or {}).items():
        if file_name not in expected:
            raise DataError(f"checksums names an unknown file {file_name!r}; {key} has "
                            f"{', '.join(expected)}")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", str(digest)):
            raise DataError(f"checksum for {file_name} must be 64 hex digits (SHA-256), "
                            f"got {digest!r}")
        expected[file_name] = str(digest).lower()
    folder = dataset_dir(key, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    base = base_url or remote.base_url
    base = base if base.endswith("/") else base + "/"
    for file_name, digest in expected.items():
        target = folder / file_name
        if target.is_file() and sha256_file(target) == digest:
            continue
        download_verified(base + file_name, target, digest, timeout=timeout, progress=progress)
    return folder
