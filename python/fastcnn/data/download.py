"""Downloads from a list of mirrors with SHA-256 verification and an atomic write.

A file is fetched into a temporary file in the destination directory, its digest checked,
and only then renamed into place (os.replace), so a failed, interrupted or corrupted
download never leaves a partial file under the final name. Mirrors and digests are
parameters; the official ones are the defaults of the datasets (datasets.py).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request

__all__ = ["download_file", "sha256_of", "MNIST_MIRRORS", "MNIST_SHA256", "FASHION_MNIST_MIRRORS",
           "FASHION_MNIST_SHA256"]

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
# The files on Zalando's mirror (Debian's package recompresses them: other digests, same data).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}

_CHUNK = 1 << 20


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_file(filename: str, directory, mirrors, sha256: str, timeout: float = 30.0, *,
                  sha256_prefix: bool = False) -> str:
    """Fetches mirror + filename for each mirror in turn into directory/filename.

    Returns the final path. Raises RuntimeError listing every mirror's failure when none
    gives a file with the expected SHA-256; no file (partial or corrupt) is left behind.
    sha256_prefix=True accepts the digest's first hex digits (8 or more), as torchvision's file names carry.
    """
    if not isinstance(sha256, str) or not (8 if sha256_prefix else 64) <= len(sha256) <= 64:
        want = "a hex prefix of 8 to 64 digits" if sha256_prefix else "a 64-digit hex string"
        raise ValueError(f"download_file: sha256 must be {want}, got {sha256!r}")
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    if not mirrors:
        raise ValueError("download_file: mirrors is empty")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, filename)
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix="." + filename + ".", suffix=".part", dir=directory)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    h.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if not digest.startswith(sha256.lower()) if sha256_prefix else digest != sha256.lower():
                errors.append(f"{url}: SHA-256 mismatch (got {digest}, expected {sha256.lower()})")
                continue
            os.replace(tmp, final)
            return final
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise RuntimeError(f"download of {filename} failed from every mirror:\n  " + "\n  ".join(errors))
