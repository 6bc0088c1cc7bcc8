"""A small static server for an exported explorer site, on 127.0.0.1 only.

Any static server works (the site is plain files); this one adds what a
newcomer should not have to think about: it exports a run folder first when
needed, binds to the loopback interface only, refuses paths that leave the
site folder (also through symlinks), answers malformed requests with a clean
4xx, and serves .mjs/.wasm/.onnx with the right types.
"""

from __future__ import annotations

import http.server
import posixpath
import urllib.parse
from functools import partial
from pathlib import Path

from .checkpoint import CONFIG_FILE

HOST = "127.0.0.1"  # loopback only: the explorer is for the person at this machine
DEFAULT_PORT = 8000
SITE_SUBDIR = "site"  # a run folder's export goes here unless told otherwise
NOT_FOUND_PAGE = "404.html"  # the site's own "not found" page, linking back to the index
MAX_PATH_LENGTH = 2048  # longer request targets are refused (414)
EXTRA_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".u8": "application/octet-stream",
    ".f32": "application/octet-stream",
    ".json": "application/json",
}


class SiteRequestHandler(http.server.SimpleHTTPRequestHandler):
    """GET/HEAD of files under one folder; everything else is a 4xx."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **EXTRA_TYPES}
    server_version = "latentcraft"
    # Answer even an unparsable request line with a status line (HTTP/0.9 replies have none).
    default_request_version = "HTTP/1.0"
    sys_version = ""

    def __init__(self, *args, directory: str, quiet: bool = False, **kwargs):
        self.quiet = quiet
        super().__init__(*args, directory=directory, **kwargs)

    # ---- request checks ----------------------------------------------------------------
    def _site_file(self) -> Path | None:
        """The file the request names, or None after sending an error."""
        if len(self.path) > MAX_PATH_LENGTH:
            self.send_error(414, "request target too long")
            return None
        raw_path = urllib.parse.urlsplit(self.path).path
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
        root = Path(self.directory).resolve()
        target = (root / posixpath.normpath(path).lstrip("/")).resolve()
        if target != root and root not in target.parents:  # e.g. a symlink pointing out
            self.send_error(403, "paths outside the site folder are not served")
            return None
        return target

    def send_head(self):
        if self._site_file() is None:
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(403, "directory listings are not served")
        return None

    def end_headers(self) -> None:
        # Exports are rewritten in place; never let the browser keep a stale model.
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    # The base class answers an unknown method with 501 and an unknown HTTP
    # version with 505, server errors for what is the client's mistake.
    CLIENT_ERRORS = {501: 405, 505: 400}

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        code = self.CLIENT_ERRORS.get(code, code)
        if code == 405:
            message = message or "only GET and HEAD are served"
        if code == 404 and self._send_site_page(NOT_FOUND_PAGE, 404):
            return
        super().send_error(code, message, explain)

    def _send_site_page(self, name: str, code: int) -> bool:
        """Answer with the site's own page `name` (e.g. its 404 page); False if the site has none."""
        page = Path(self.directory) / name
        if not page.is_file():
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
        if not super().parse_request():
            return False
        if self.command not in ("GET", "HEAD"):
            self.send_error(405, f"method {self.command} is not served; only GET and HEAD")
            return False
        return True

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(site_dir: str | Path, port: int = DEFAULT_PORT, quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for `site_dir` bound to 127.0.0.1:port (port 0 picks a free one); not yet serving."""
    handler = partial(SiteRequestHandler, directory=str(Path(site_dir).resolve()), quiet=quiet)
    return http.server.ThreadingHTTPServer((HOST, port), handler)


def site_for(path: str | Path, out_dir: str | Path | None = None, force: bool = False) -> Path:
    """The site folder to serve for a run folder or a site folder, exporting the run when needed."""
    from .export import ExportError, export_site, is_site, is_stale

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


def url_for(server: http.server.ThreadingHTTPServer, page: str = "") -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/{page}"


def serve_forever(server: http.server.ThreadingHTTPServer, page: str = "") -> None:
    print(f"serving {server.RequestHandlerClass.keywords['directory']}")
    print(f"open {url_for(server, page)}   (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
