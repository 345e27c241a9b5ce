"""Shared helpers for the tests of irsde.data (no tests here): a loopback HTTP server with
misbehaviour switches, in-memory images and archives mimicking the real dataset layouts, and
git object ids computed by git itself."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irsde.data.records import Dataset
from irsde.data.registry import get_dataset


# -- images and archives ----------------------------------------------------------------------------


def random_image(seed: int, width: int = 12, height: int = 10, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(array).convert(mode)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(files: dict[str, bytes], compression: str = "gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as bundle:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rain_files(folder: str, count: int, padded: bool, seed: int) -> dict[str, bytes]:
    """A flat Rain100H/RainTrainH-style folder: norain-N (GT), rain-N (LQ) and the
    rainregion/rainstreak maps that must be ignored."""
    files = {}
    for number in range(1, count + 1):
        tag = f"{number:03d}" if padded else str(number)
        files[f"{folder}/norain-{tag}.png"] = png_bytes(random_image(seed + number))
        files[f"{folder}/rain-{tag}.png"] = png_bytes(random_image(seed + 1000 + number))
        files[f"{folder}/rainregion-{tag}.png"] = png_bytes(random_image(seed + 2000 + number, mode="L"))
        files[f"{folder}/rainstreak-{tag}.png"] = png_bytes(random_image(seed + 3000 + number, mode="L"))
    return files


def registry_copy(name: str, urls: dict[str, str] | None = None, pairs: dict[str, int] | None = None) -> Dataset:
    """A registry record with the URLs of some archives replaced (made downloadable) and some
    expected pair counts replaced; the patterns are the registry's own."""
    dataset = get_dataset(name)
    urls, pairs = urls or {}, pairs or {}
    sources = tuple(replace(s, urls=(urls[s.name],), browser=False) if s.name in urls else s for s in dataset.sources)
    splits = tuple(replace(s, pairs=pairs[s.name]) if s.name in pairs else s for s in dataset.splits)
    return replace(dataset, sources=sources, splits=splits)


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def tree_hashes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- git ids from git itself ----------------------------------------------------------------------------


def git_ids(files: dict[str, bytes], workdir: Path) -> tuple[dict[str, str], str]:
    """(blob id per file, tree id of the flat folder) as computed by the git executable."""
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    blobs = {}
    for name, data in files.items():
        result = subprocess.run(["git", "-C", str(workdir), "hash-object", "--stdin"], input=data,
                                capture_output=True, check=True)
        blobs[name] = result.stdout.decode().strip()
    listing = "".join(f"100644 blob {blob}\t{name}\n" for name, blob in blobs.items())
    tree = subprocess.run(["git", "-C", str(workdir), "mktree", "--missing"], input=listing.encode(),
                          capture_output=True, check=True)
    return blobs, tree.stdout.decode().strip()


# -- loopback HTTP server -------------------------------------------------------------------------------


@dataclass
class Route:
    """What the server sends for one path. ``truncate_at``: announce the full length but close
    after this many body bytes; ``fail_first``: answer that many requests with ``fail_status``;
    ``ranges``: honour Range requests; ``wrong_range``: answer them with a range starting at 0;
    ``send_length``: send a Content-Length header; ``stall_after``: after this many body bytes
    wait ``stall_seconds`` before the rest; ``drip_delay``: send the body one byte at a time,
    this many seconds apart; ``content_type``: the Content-Type header, if any;
    ``content_encoding``: the Content-Encoding header, if any (the body is sent as given);
    ``header_delay``: seconds to wait before answering. ``requests`` records each request's Range
    header, ``encodings`` its Accept-Encoding header."""

    body: bytes
    truncate_at: int | None = None
    fail_first: int = 0
    fail_status: int = 503
    ranges: bool = True
    wrong_range: bool = False
    send_length: bool = True
    stall_after: int | None = None
    stall_seconds: float = 0.0
    drip_delay: float = 0.0
    content_type: str | None = None
    content_encoding: str | None = None
    header_delay: float = 0.0
    requests: list = field(default_factory=list)
    encodings: list = field(default_factory=list)


class LoopbackServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route.requests.append(self.headers.get("Range"))
                route.encodings.append(self.headers.get("Accept-Encoding"))
                if route.header_delay:
                    time.sleep(route.header_delay)
                if route.fail_first > 0:
                    route.fail_first -= 1
                    self.send_error(route.fail_status)
                    return
                start = 0
                requested = self.headers.get("Range")
                if route.ranges and requested and requested.startswith("bytes="):
                    start = int(requested[6:].split("-")[0])
                partial = bool(start)
                if route.wrong_range:
                    start = 0
                body = route.body[start:]
                self.send_response(206 if partial else 200)
                if partial:
                    self.send_header("Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}")
                if route.send_length:
                    self.send_header("Content-Length", str(len(body)))
                if route.content_type:
                    self.send_header("Content-Type", route.content_type)
                if route.content_encoding:
                    self.send_header("Content-Encoding", route.content_encoding)
                self.end_headers()
                body = body if route.truncate_at is None else body[: route.truncate_at]
                try:
                    self._send(route, body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up, as tested
                    pass
                self.close_connection = True

            def _send(self, route, body):
                if route.drip_delay:
                    for index in range(len(body)):
                        self.wfile.write(body[index:index + 1])
                        self.wfile.flush()
                        time.sleep(route.drip_delay)
                    return
                if route.stall_after is not None:
                    self.wfile.write(body[: route.stall_after])
                    self.wfile.flush()
                    time.sleep(route.stall_seconds)
                    body = body[route.stall_after:]
                self.wfile.write(body)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add(self, path: str, body: bytes, **behaviour) -> Route:
        self.routes[path] = Route(body, **behaviour)
        return self.routes[path]

    def add_git_tree(self, repo: str, commit: str, folder: str, files: dict[str, bytes], workdir: Path) -> str:
        """Serve a fake GitHub API listing and raw files; returns the (real) git tree id."""
        blobs, tree_id = git_ids(files, workdir)
        listing = {"sha": tree_id, "truncated": False, "tree": [
            {"path": name, "mode": "100644", "type": "blob", "sha": blobs[name], "size": len(data)}
            for name, data in files.items()
        ]}
        self.add(f"/api/repos/{repo}/git/trees/{tree_id}", json.dumps(listing).encode())
        for name, data in files.items():
            self.add(f"/raw/{repo}/{commit}/{folder}/{name}", data)
        return tree_id

    def serve_folder(self, prefix: str, folder: Path) -> None:
        """Serve every file below ``folder`` at ``<prefix>/<relative path>`` (a mirror)."""
        for path in folder.rglob("*"):
            if path.is_file():
                self.add(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


def prepared_cbsd68(root: Path, count: int, width: int, height: int, resources: Path | None = None) -> Path:
    """The test split of a CBSD68 prepared by the registry's recipe (GT + sigma 25 noise, float
    LQ, the noise level in its dataset.json) from ``count`` random clean images: ``root/data/CBSD68/test``."""
    from irsde.data import prepare_dataset

    folder = root / "clean"
    folder.mkdir()
    for index in range(count):
        (folder / f"{100 + index}.png").write_bytes(png_bytes(random_image(index, width=width, height=height)))
    dataset = get_dataset("CBSD68")
    dataset = replace(dataset, splits=(replace(dataset.splits[0], pairs=count),))
    return prepare_dataset(dataset, root / "data", resources or root / "res", paths={"FFDNet-CBSD68": folder},
                           progress=False) / "test"
