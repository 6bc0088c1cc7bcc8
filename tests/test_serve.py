"""The explorer's static server: loopback only, no path traversal, clean 4xx for bad requests."""

import socket
import threading
import urllib.request

import pytest

from latentcraft.export import ExportError
from latentcraft.serve import HOST, make_server, site_for


@pytest.fixture()
def server(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hello</p>")
    (site / "lib.mjs").write_text("export const x = 1;")
    (site / "rt.wasm").write_bytes(b"\0asm")
    (site / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("do not serve")
    (site / "escape").symlink_to(tmp_path / "secret.txt")
    srv = make_server(site, 0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def raw_request(srv, request_line: str) -> tuple[int, bytes]:
    """Send a request line byte for byte (HTTP clients would normalise '../' away)."""
    with socket.create_connection(srv.server_address[:2], timeout=5) as conn:
        conn.sendall(f"{request_line}\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_binds_to_loopback_only(server):
    assert server.server_address[0] == HOST == "127.0.0.1"


def test_serves_files_with_module_and_wasm_types(server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with urllib.request.urlopen(f"{base}/index.html") as r:
        assert r.status == 200 and r.read() == b"<p>hello</p>"
    with urllib.request.urlopen(f"{base}/lib.mjs") as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
    with urllib.request.urlopen(f"{base}/rt.wasm") as r:
        assert r.headers["Content-Type"] == "application/wasm"


@pytest.mark.parametrize("target", ["/../secret.txt", "/%2e%2e/secret.txt", "/empty/../../secret.txt",
                                    "/..%2fsecret.txt", "/./index.html"])
def test_refuses_path_traversal(server, target):
    status, body = raw_request(server, f"GET {target} HTTP/1.1")
    assert status == 403
    assert b"do not serve" not in body


def test_refuses_symlink_out_of_the_site(server):
    status, body = raw_request(server, "GET /escape HTTP/1.1")
    assert status == 403 and b"do not serve" not in body


@pytest.mark.parametrize("request_line, expected", [
    ("POST /index.html HTTP/1.1", 405),
    ("DELETE /index.html HTTP/1.1", 405),
    ("GET /%ff%fe HTTP/1.1", 400),
    ("GET /index.html%00.txt HTTP/1.1", 400),
    ("GET index.html HTTP/1.1", 400),
    ("BREW /index.html HTTP/1.1", 405),
    ("GET /index.html HTTP/2.0", 400),
    ("GET /index.html HTTP/x", 400),
    ("GET /missing.html HTTP/1.1", 404),
    ("GET /empty/ HTTP/1.1", 403),
    ("GET /" + "a" * 5000 + " HTTP/1.1", 414),
])
def test_malformed_requests_get_a_clean_4xx(server, request_line, expected):
    status, _ = raw_request(server, request_line)
    assert status == expected


def test_site_for_rejects_a_folder_that_is_neither_run_nor_site(tmp_path):
    with pytest.raises(ExportError, match="neither a run folder"):
        site_for(tmp_path)


def test_site_for_returns_an_exported_site_as_is(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    assert site_for(tmp_path) == tmp_path
