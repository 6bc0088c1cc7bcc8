"""A small static server for an exported explorer site, on 127.0.0.1 only.

Any static server works (the site is plain files); this one adds what a
newcomer should not have to think about: it exports a run folder first when
needed, binds to the loopback interface only, serves only files inside the
site folder (a symlink pointing out is refused), answers malformed requests
with a clean 4xx, serves .mjs/.wasm/.onnx with the right types, closes
connections that do not send a request in time, and never runs more than a
fixed number of threads.
"""

from __future__ import annotations

import http.server
import io
import os
import queue
import stat
import sys
import threading
import time
import urllib.parse
from functools import partial
from pathlib import Path
from typing import cast

from latentcraft.errors import LatentcraftError
from latentcraft.training.checkpoint import CONFIG_FILE

HOST = "127.0.0.1"  # loopback only: the explorer is for the person at this machine
DEFAULT_PORT = 8000
SITE_SUBDIR = "site"  # a run folder's export goes here unless told otherwise
NOT_FOUND_PAGE = "404.html"  # the site's own "not found" page, linking back to the index
MAX_PATH_LENGTH = 2048  # longer request targets are refused (414)
REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send a request's head, idle time included
MAX_THREADS = 32  # connections served at once; more wait in a queue (a browser opens about 6)
ALLOWED_METHODS = ("GET", "HEAD")
INDEX_PAGE = "index.html"
EXTRA_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".u8": "application/octet-stream",
    ".f32": "application/octet-stream",
    ".json": "application/json",
}
ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%(code)d %(message)s</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3em;">
<h1>%(code)d %(message)s</h1><p>%(explain)s</p>
<p><a href="/">Back to the explorer's start page</a></p>
</body></html>
"""


class ServeError(LatentcraftError, RuntimeError):
    """The server cannot start (for example, its port is taken)."""


class _HeadReader:
    """The connection's input, reading each request's head against one deadline.

    A socket timeout restarts with every byte received, so a client trickling a
    byte every few seconds (slowloris) would hold its thread forever; here every
    read of the head gets only the time left until the deadline.
    """

    def __init__(self, stream, connection, seconds: float):
        self.stream, self.connection, self.seconds = stream, connection, seconds
        self.deadline = time.monotonic() + seconds

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete request within {self.seconds:g} s")
            self.connection.settimeout(left)
            buffered = self.stream.peek(1)  # at most one recv, bounded by `left`
            if not buffered:
                break  # the client closed the connection
            end = buffered.find(b"\n") + 1 or len(buffered)
            if limit >= 0:
                end = min(end, limit - len(line))
            line += self.stream.read(end)  # served from the buffer: no recv
        return bytes(line)

    def close(self) -> None:
        self.stream.close()


class SiteRequestHandler(http.server.SimpleHTTPRequestHandler):
    """GET/HEAD of files under one folder; everything else is a 4xx."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **EXTRA_TYPES}
    server_version = "latentcraft"
    # Answer even an unparsable request line with a status line (HTTP/0.9 replies have none).
    default_request_version = "HTTP/1.0"
    sys_version = ""
    error_message_format = ERROR_PAGE

    def __init__(self, *args, directory: str, quiet: bool = False, timeout: float = REQUEST_TIMEOUT, **kwargs):
        self.quiet = quiet
        # Socket timeout for writes, and the deadline for each request's head. (Not StreamRequestHandler's
        # `timeout`: that is a class attribute, the same for every server.)
        self.request_timeout = timeout
        self.extra_headers: list[tuple[str, str]] = []
        super().__init__(*args, directory=directory, **kwargs)

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.request_timeout)
        self.head_reader = _HeadReader(self.rfile, self.connection, self.request_timeout)
        # Duck-typed: the request handler only calls readline() and close() on rfile.
        self.rfile = cast(io.BufferedIOBase, self.head_reader)

    def handle_one_request(self) -> None:
        self.head_reader.start()
        super().handle_one_request()

    # ---- which file a request names --------------------------------------------------
    def _request_path(self) -> str | None:
        """The request target's decoded path, or None after sending an error."""
        if len(self.path) > MAX_PATH_LENGTH:
            self.send_error(414, "request target too long")
            return None
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute form, as sent to proxies
            target = urllib.parse.urlsplit(target).path or "/"
        # Not urlsplit for the usual origin form: it would read "//dir/file" as host "dir".
        raw_path = target.split("?", 1)[0].split("#", 1)[0]
        if not raw_path.startswith("/"):
            self.send_error(400, "request target must be an absolute path")
            return None
        try:
            path = urllib.parse.unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self.send_error(400, "request path is not valid UTF-8")
            return None
        if "\x00" in path or "\\" in path:
            self.send_error(400, "request path holds a forbidden character")
            return None
        # Refuse rather than silently normalise: a "../" is never part of a valid site URL.
        if any(part in ("..", ".") for part in path.split("/")):
            self.send_error(403, "paths outside the site folder are not served")
            return None
        return path

    def _inside_site(self, path: Path) -> Path | None:
        """`path` with every symlink resolved, if that is inside the site folder; else None."""
        root = Path(self.directory).resolve()
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            return None
        return resolved if resolved == root or root in resolved.parents else None

    def _site_file(self) -> Path | None:
        """The one resolved file this request is answered with, or None after sending an error or redirect.

        The path is resolved once, here; send_head opens exactly this path, so
        what was checked is what is served, whatever Python's own path handling does.
        """
        path = self._request_path()
        if path is None:
            return None
        segments = [part for part in path.split("/") if part]  # "//dir/file" is dir/file, inside the site
        target = self._inside_site(Path(self.directory).joinpath(*segments))
        if target is not None and target.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", urllib.parse.quote(path + "/"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            target = self._inside_site(target / INDEX_PAGE)
            if target is None or not target.is_file():
                self.send_error(403, "directory listings are not served")
                return None
            return target
        if target is None:
            self.send_error(403, "paths outside the site folder are not served")
            return None
        if path.endswith("/") or not target.is_file():
            self.send_error(404, "not found", f"{path} is not part of this site.")
            return None
        return target

    def send_head(self):
        target = self._site_file()
        if target is None:
            return None
        try:
            # O_NOFOLLOW: should the file have become a symlink since it was checked, refuse it.
            file = os.fdopen(os.open(target, os.O_RDONLY | os.O_NOFOLLOW), "rb")
        except OSError:
            self.send_error(404, "not found", f"{target.name} cannot be read.")
            return None
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            file.close()
            self.send_error(404, "not found", f"{target.name} is not a file.")
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(target)))
        self.send_header("Content-Length", str(info.st_size))
        self.send_header("Last-Modified", self.date_time_string(info.st_mtime))
        self.end_headers()
        return file

    def list_directory(self, path):
        self.send_error(403, "directory listings are not served")
        return None

    # ---- replies -------------------------------------------------------------------
    def end_headers(self) -> None:
        # Exports are rewritten in place; never let the browser keep a stale model.
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in self.extra_headers:
            self.send_header(name, value)
        self.extra_headers = []
        super().end_headers()

    # The base class answers an unknown method with 501 and an unknown HTTP
    # version with 505, server errors for what is the client's mistake.
    CLIENT_ERRORS = {501: 405, 505: 400}

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        code = self.CLIENT_ERRORS.get(code, code)
        if code == 405:
            message = message or f"only {' and '.join(ALLOWED_METHODS)} are served"
            self.extra_headers.append(("Allow", ", ".join(ALLOWED_METHODS)))  # required with 405 (RFC 9110)
        if code == 404 and self._send_site_page(NOT_FOUND_PAGE, 404):
            return
        super().send_error(code, message, explain)

    def _send_site_page(self, name: str, code: int) -> bool:
        """Answer with the site's own page `name` (e.g. its 404 page); False if the site has none."""
        page = self._inside_site(Path(self.directory) / name)  # a symlink out of the site is not followed
        if page is None or not page.is_file():
            return False
        body = page.read_bytes()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return True

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        self.connection.settimeout(self.request_timeout)  # the head is in; the reply gets the full timeout
        if not parsed:
            return False
        if self.command not in ALLOWED_METHODS:
            self.send_error(405, f"method {self.command} is not served; only {' and '.join(ALLOWED_METHODS)}")
            return False
        return True

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class SiteServer(http.server.HTTPServer):
    """An HTTP server that serves connections on at most `max_threads` threads; later ones wait in a queue.

    ThreadingHTTPServer starts one thread per connection without limit, so
    clients that connect and never finish a request could pile up threads.
    """

    def __init__(self, address, handler, max_threads: int = MAX_THREADS, quiet: bool = False, directory: str = ""):
        self.directory = directory  # the folder served, for messages
        self.max_threads = max_threads
        self.quiet = quiet
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        # Called on the accepting thread only, so the worker list needs no lock.
        self._waiting.put((request, client_address))
        if len(self._workers) < self.max_threads:
            worker = threading.Thread(target=self._work, name=f"serve-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        while (item := self._waiting.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a bug in the server: keep the traceback
        elif not self.quiet:  # the browser went away mid-reply (a reload, a closed tab)
            print(f"{client_address[0]}:{client_address[1]} disconnected ({type(error).__name__})", file=sys.stderr)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            self._waiting.put(None)


def make_server(site_dir: str | Path, port: int = DEFAULT_PORT, quiet: bool = False,
                timeout: float = REQUEST_TIMEOUT, max_threads: int = MAX_THREADS) -> SiteServer:
    """A server for `site_dir` bound to 127.0.0.1:port (port 0 picks a free one); not yet serving."""
    directory = str(Path(site_dir).resolve())
    handler = partial(SiteRequestHandler, directory=directory, quiet=quiet, timeout=timeout)
    try:
        return SiteServer((HOST, port), handler, max_threads, quiet, directory)
    except OverflowError:
        raise ServeError(f"port {port} is outside 0-65535") from None
    except OSError as err:
        raise ServeError(f"cannot listen on {HOST}:{port} ({err.strerror}); pick another --port "
                         "(0 picks any free one)") from None


def site_for(path: str | Path, out_dir: str | Path | None = None, force: bool = False) -> Path:
    """The site folder to serve for a run folder or a site folder, exporting the run when needed."""
    from latentcraft.explorer.export import export_site, is_stale
    from latentcraft.explorer.onnx_graphs import ExportError
    from latentcraft.explorer.site_folder import is_site

    path = Path(path)
    if is_site(path) and not (path / CONFIG_FILE).is_file():
        return path
    if not (path / CONFIG_FILE).is_file():
        raise ExportError(f"{path} is neither a run folder ({CONFIG_FILE}) nor an exported site (manifest.json)")
    site = Path(out_dir) if out_dir else path / SITE_SUBDIR
    if force or is_stale(site, path):
        print(f"exporting {path} to {site} ...", flush=True)
        export_site(path, site)
    return site


def url_for(server: http.server.HTTPServer, page: str = "") -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/{page}"


def serve_forever(server: SiteServer, page: str = "") -> None:
    print(f"serving {server.directory}")
    print(f"open {url_for(server, page)}   (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
