"""Tests of the MNIST/Fashion-MNIST download path, served from a loopback server.

No test touches the internet: every URL points at 127.0.0.1.
"""

import dataclasses
import hashlib
import http.server
import io
import re
import threading
import time

import numpy as np
import pytest

from descentlab.data import (
    FASHION_MNIST,
    MNIST,
    DatasetSpec,
    RemoteFile,
    data_home,
    encode_idx,
    fetch_files,
    load_idx_dataset,
)
from descentlab.data import datasets as datasets_mod
from descentlab.data import download as download_mod
from descentlab.errors import DataError, InvalidParameterError

RNG = np.random.default_rng(0)
ARRAYS = {
    "train-images-idx3-ubyte.gz": RNG.integers(0, 256, (12, 28, 28), dtype=np.uint8),
    "train-labels-idx1-ubyte.gz": np.arange(12, dtype=np.uint8) % 10,
    "t10k-images-idx3-ubyte.gz": RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8),
    "t10k-labels-idx1-ubyte.gz": np.array([9, 8, 7, 6, 5], dtype=np.uint8),
}
FILES = {name: encode_idx(a, compress=True) for name, a in ARRAYS.items()}
NAMES = list(FILES)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # http.server's name
        server = self.server
        server.requests.append(self.path)
        route = server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        status, body, delay, length = route
        time.sleep(delay)
        if status != 200:
            self.send_error(status)
            return
        try:
            self.send_response(200)
            self.send_header(
                "Content-Length", str(len(body) if length is None else length)
            )
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback HTTP server; ``routes[path] = (status, body, delay, length)``."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.serve = lambda prefix, files: httpd.routes.update(
        {f"{prefix}{n}": (200, b, 0.0, None) for n, b in files.items()}
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _spec(mirrors, files=FILES, algorithm="sha256", name="toy", digests=None):
    digests = digests or {}

    def remote(n):
        digest = digests.get(n) or hashlib.new(algorithm, files[n]).hexdigest()
        return RemoteFile(n, digest, algorithm)

    return DatasetSpec(name, tuple(mirrors), *(remote(n) for n in NAMES))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_parse_and_cache(server, tmp_path):
    """Check a full load: arrays match, files cached, a second call makes no request."""
    server.serve("/m/", FILES)
    spec = _spec([server.url + "/m/"])
    (xt, yt), (xs, ys) = load_idx_dataset(spec, root=tmp_path)
    assert xt.shape == (12, 1, 28, 28) and xt.dtype == np.float32
    np.testing.assert_allclose(xt[:, 0], ARRAYS[NAMES[0]] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yt, ARRAYS[NAMES[1]])
    assert xs.shape == (5, 1, 28, 28) and ys.tolist() == [9, 8, 7, 6, 5]
    assert _leftovers(tmp_path / "toy") == sorted(NAMES)
    assert len(server.requests) == 4
    (xf, yh), _ = load_idx_dataset(
        spec,
        root=tmp_path,
        flatten=True,
        one_hot=True,
        mirror="http://127.0.0.1:1/unused/",
    )
    assert len(server.requests) == 4
    assert xf.shape == (12, 784) and yh.shape == (12, 10)
    (raw, _), _ = load_idx_dataset(spec, root=tmp_path, normalize=False, dtype=np.uint8)
    np.testing.assert_array_equal(raw[:, 0], ARRAYS[NAMES[0]])


def test_md5_tables_are_verified(server, tmp_path):
    """Check that a table recorded with MD5 digests is verified with MD5."""
    server.serve("/", FILES)
    spec = _spec([server.url], algorithm="md5")
    assert len(spec.train_images.digest) == 32
    paths = fetch_files(spec, root=tmp_path)
    assert paths[NAMES[2]].read_bytes() == FILES[NAMES[2]]


def test_checksum_mismatch_leaves_nothing_behind(server, tmp_path):
    """Check the error names both digests and no file or temp file stays."""
    server.serve("/m/", FILES)
    wrong = "0" * 64
    spec = _spec([server.url + "/m/"], digests={NAMES[0]: wrong})
    actual = hashlib.sha256(FILES[NAMES[0]]).hexdigest()
    with pytest.raises(
        DataError, match=f"sha256 checksum mismatch: expected {wrong}, got {actual}"
    ):
        load_idx_dataset(spec, root=tmp_path)
    assert _leftovers(tmp_path / "toy") == []


def test_truncated_gzip_with_matching_digest(server, tmp_path):
    """Check that a truncated archive that passes its checksum fails in the parser."""
    files = dict(FILES)
    files[NAMES[0]] = files[NAMES[0]][:-40]
    server.serve("/", files)
    with pytest.raises(
        DataError, match="train-images-idx3-ubyte.gz: truncated or corrupt gzip"
    ):
        load_idx_dataset(_spec([server.url], files=files), root=tmp_path)


def test_short_transfer_is_refused(server, tmp_path):
    """Check that a body shorter than its Content-Length is a failed download."""
    server.serve("/", FILES)
    name = NAMES[1]
    server.routes["/" + name] = (200, FILES[name], 0.0, len(FILES[name]) + 500)
    with pytest.raises(DataError, match="connection closed after|IncompleteRead"):
        fetch_files(_spec([server.url]), root=tmp_path)
    assert name not in _leftovers(tmp_path / "toy")
    assert not [n for n in _leftovers(tmp_path / "toy") if n.endswith(".part")]


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors(server, tmp_path, status):
    """Check that HTTP errors name the URL and status and leave no file."""
    server.serve("/", FILES)
    server.routes["/" + NAMES[3]] = (status, b"", 0.0, None)
    with pytest.raises(DataError, match=rf"{server.url}/{NAMES[3]}: HTTP {status}"):
        fetch_files(_spec([server.url]), root=tmp_path)
    assert _leftovers(tmp_path / "toy") == sorted(NAMES[:3])


def test_timeout_is_reported(server, tmp_path):
    """Check that a server slower than ``timeout`` gives a DataError, not a hang."""
    server.routes["/slow/" + NAMES[0]] = (200, FILES[NAMES[0]], 0.3, None)
    with pytest.raises(DataError, match="timed out"):
        fetch_files(_spec([server.url + "/slow/"]), root=tmp_path, timeout=0.1)
    assert _leftovers(tmp_path / "toy") == []


def test_mirror_fallback(server, tmp_path):
    """Check that mirrors are tried in order: the first 404s, the second serves."""
    server.serve("/good/", FILES)
    spec = _spec(["http://127.0.0.1:1/never-used/"])
    mirrors = [server.url + "/missing", server.url + "/good/"]
    paths = fetch_files(spec, root=tmp_path, mirror=mirrors)
    assert set(paths) == set(NAMES)
    assert server.requests[:2] == ["/missing/" + NAMES[0], "/good/" + NAMES[0]]
    assert len(server.requests) == 8


def test_all_mirrors_failing_lists_each(server, tmp_path):
    """Check that the error lists every URL tried with its reason."""
    spec = _spec([server.url + "/a/", server.url + "/b/"])
    with pytest.raises(DataError) as info:
        fetch_files(spec, root=tmp_path)
    msg = str(info.value)
    assert f"could not download {NAMES[0]}" in msg
    assert f"{server.url}/a/{NAMES[0]}: HTTP 404" in msg
    assert f"{server.url}/b/{NAMES[0]}: HTTP 404" in msg
    assert f"Offline? Copy {NAMES[0]} into" in msg and "DESCENTLAB_DATA" in msg


def test_wrong_cached_file_is_downloaded_again(server, tmp_path):
    """Check that a cached file failing its digest is replaced, with a warning."""
    server.serve("/", FILES)
    folder = tmp_path / "toy"
    folder.mkdir()
    for name, body in FILES.items():
        (folder / name).write_bytes(body)
    (folder / NAMES[2]).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=f"{NAMES[2]} fails its sha256 check"):
        fetch_files(_spec([server.url]), root=tmp_path)
    assert server.requests == ["/" + NAMES[2]]
    assert (folder / NAMES[2]).read_bytes() == FILES[NAMES[2]]


def test_count_mismatch_is_refused(server, tmp_path):
    """Check that images and labels with different counts are refused."""
    files = dict(FILES)
    files[NAMES[1]] = encode_idx(np.arange(11, dtype=np.uint8) % 10, compress=True)
    server.serve("/", files)
    with pytest.raises(
        DataError, match="holds 12 images but train-labels-idx1-ubyte.gz holds 11"
    ):
        load_idx_dataset(_spec([server.url], files=files), root=tmp_path)


def test_env_var_and_platform_cache(server, tmp_path, monkeypatch):
    """Check root > $DESCENTLAB_DATA > $XDG_CACHE_HOME > ~/.cache (descentlab)."""
    server.serve("/", FILES)
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path / "env"))
    load_idx_dataset(_spec([server.url]))
    assert _leftovers(tmp_path / "env" / "toy") == sorted(NAMES)
    assert data_home(tmp_path / "r") == tmp_path / "r"
    monkeypatch.delenv("DESCENTLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    assert data_home() == tmp_path / "xdg" / "descentlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_home() == tmp_path / "home" / ".cache" / "descentlab"


def test_load_mnist_and_fashion_use_their_tables(server, tmp_path, monkeypatch):
    """Check the public loaders through swapped-in tables and the ``mirror`` option."""
    server.serve("/", FILES)
    for attr, fn in (("MNIST", "load_mnist"), ("FASHION_MNIST", "load_fashion_mnist")):
        spec = dataclasses.replace(_spec(["http://127.0.0.1:1/"]), name=attr.lower())
        monkeypatch.setattr(datasets_mod, attr, spec)
        (xt, yt), (xs, ys) = getattr(datasets_mod, fn)(root=tmp_path, mirror=server.url)
        assert xt.shape == (12, 1, 28, 28) and ys.shape == (5,)
        assert _leftovers(tmp_path / attr.lower()) == sorted(NAMES)


def test_real_tables():
    """Check the shipped tables: file names, digest lengths, algorithms, mirror."""
    assert [f.name for f in MNIST.files] == NAMES
    assert [f.name for f in FASHION_MNIST.files] == NAMES
    for spec in (MNIST, FASHION_MNIST):  # SHA-256 pinned for every file
        for f in spec.files:
            assert f.algorithm == "sha256" and len(f.digest) == 64, f
            assert int(f.digest, 16) >= 0 and f.digest == f.digest.lower()
    assert MNIST.train_images.digest.startswith("440fcabf73cc546f")
    assert MNIST.test_labels.digest.endswith("efb259924204aec6")
    assert FASHION_MNIST.train_images.digest.startswith("08dc20ab1689590a")
    assert MNIST.mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert FASHION_MNIST.classes[9] == "Ankle boot"


@pytest.mark.parametrize(
    "kwargs, regex",
    [
        ({"mirror": []}, "'mirror' must be a base URL or a non-empty list"),
        ({"mirror": [""]}, "'mirror' must be a base URL"),
        ({"timeout": 0}, r"'timeout' must be a float in \(0.0, inf\)"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, regex):
    """Check that bad mirrors and timeouts are refused before any request."""
    with pytest.raises(InvalidParameterError, match=regex):
        fetch_files(_spec(["http://127.0.0.1:1/"]), root=tmp_path, **kwargs)


def test_unknown_algorithm(tmp_path):
    """Check that a table with an unsupported algorithm is refused with the choices."""
    spec = _spec(["http://127.0.0.1:1/"], algorithm="sha1")
    with pytest.raises(
        InvalidParameterError, match="'algorithm' must be one of 'sha256', 'md5'"
    ):
        fetch_files(spec, root=tmp_path)


def test_file_url_mirror_for_offline_copies(tmp_path):
    """Check a file:// mirror (a folder with the four .gz files) works like a server."""
    src = tmp_path / "copies"
    src.mkdir()
    for name, body in FILES.items():
        (src / name).write_bytes(body)
    spec = _spec(["http://127.0.0.1:1/never-used/"])
    paths = fetch_files(spec, root=tmp_path / "cache", mirror=src.as_uri() + "/")
    assert set(paths) == set(NAMES)
    for name in NAMES:
        assert paths[name].read_bytes() == FILES[name]


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_download_progress_lines_off_and_on_a_terminal(tmp_path, monkeypatch, capsys):
    """Check progress: in a plain stream one 'downloading URL (size)' line and one
    'verified' line per file; on a terminal the line is rewritten in place with
    bytes and percent, then replaced by the 'verified' line; False is silent."""
    src = tmp_path / "copies"
    src.mkdir()
    for name, body in FILES.items():
        (src / name).write_bytes(body)
    spec = _spec(["http://127.0.0.1:1/never-used/"])
    mirror = src.as_uri() + "/"
    plain = io.StringIO()
    fetch_files(spec, root=tmp_path / "a", mirror=mirror, progress=plain)
    lines = plain.getvalue().splitlines()
    assert len(lines) == 8 and "\r" not in plain.getvalue()
    size = len(FILES[NAMES[0]]) / 1e3
    assert lines[0] == f"downloading {mirror}{NAMES[0]} ({size:.1f} kB)"
    assert re.fullmatch(
        rf"{NAMES[0]}: {size:.1f} kB in [\d.]+ s, sha256 verified", lines[1]
    )
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(download_mod, "_CHUNK", 64)
    tty = _FakeTTY()
    fetch_files(spec, root=tmp_path / "b", mirror=mirror, progress=tty)
    shown = tty.getvalue()
    assert re.search(
        rf"\rdownloading {NAMES[0]}: [\d.]+ kB / {size:.1f} kB \(\d+%\)", shown
    )
    assert f"\r\x1b[K{NAMES[0]}: {size:.1f} kB in " in shown
    assert "downloading file:" not in shown  # no start line on a live terminal
    capsys.readouterr()
    fetch_files(spec, root=tmp_path / "c", mirror=mirror, progress=False)
    assert capsys.readouterr() == ("", "")
    fetch_files(spec, root=tmp_path / "d", mirror=mirror)  # default: stderr
    assert capsys.readouterr().err.count("sha256 verified") == 4


_FETCH = """
import hashlib, sys
from descentlab import data
from descentlab.cli import main
from descentlab.data import DatasetSpec, RemoteFile

src = sys.argv[1]
names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
files = [RemoteFile(n, hashlib.sha256(open(src + "/" + n, "rb").read()).hexdigest())
         for n in names]
data.DATASETS["mnist"] = DatasetSpec("mnist", ("http://127.0.0.1:1/",), *files)
sys.exit(main(sys.argv[2:]))
"""


def test_data_fetch_command_fills_the_cache_from_a_file_mirror(tmp_path):
    """Check `descentlab data fetch mnist --mirror file://... --data-root DIR` in a
    real process: exit 0, progress on stderr, the verified files in DIR/mnist, and a
    second run finds them cached (no download)."""
    import subprocess
    import sys

    src = tmp_path / "copies"
    src.mkdir()
    for name, body in FILES.items():
        (src / name).write_bytes(body)
    script = tmp_path / "fetch.py"
    script.write_text(_FETCH)
    argv = [sys.executable, str(script), str(src), "data", "fetch", "mnist"]
    argv += ["--mirror", src.as_uri() + "/", "--data-root", str(tmp_path / "cache")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("sha256 verified") == 4
    assert done.stdout.startswith("mnist: 4 files, ") and "verified, in " in done.stdout
    for name, body in FILES.items():
        assert (tmp_path / "cache" / "mnist" / name).read_bytes() == body
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stderr == ""
