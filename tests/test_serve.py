"""The explorer's static server: loopback only, no path traversal, clean 4xx for bad requests,
slow clients cut off, a bounded number of threads."""

import socket
import struct
import threading
import time
import urllib.request

import pytest

from latentcraft.cli.main import main
from latentcraft.explorer.onnx_graphs import ExportError
from latentcraft.explorer.serve import HOST, ServeError, make_server, site_for


@pytest.fixture()
def site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hello</p>")
    (site / "lib.mjs").write_text("export const x = 1;")
    (site / "rt.wasm").write_bytes(b"\0asm")
    (site / "empty").mkdir()
    (site / "sub").mkdir()
    (site / "sub" / "page.html").write_text("<p>sub</p>")
    (tmp_path / "secret.txt").write_text("do not serve")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("do not serve")
    (site / "escape").symlink_to(tmp_path / "secret.txt")
    (site / "escape-dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    return site


@pytest.fixture()
def start(site):
    """start(**make_server options) -> a running server for `site`, stopped after the test."""
    servers = []

    def start(**options):
        srv = make_server(site, 0, **{"quiet": True, **options})
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture()
def server(start):
    return start()


def raw_request(srv, request_line: str) -> tuple[int, dict[str, str], bytes]:
    """Send a request line byte for byte (HTTP clients would normalise '../' away)."""
    with socket.create_connection(srv.server_address[:2], timeout=5) as conn:
        conn.sendall(f"{request_line}\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split(" ", 2)[1]), headers, body


def closed_by_server(conn: socket.socket, within: float) -> bool:
    """Whether the server closes `conn` (recv gives EOF or a reset) within `within` seconds."""
    conn.settimeout(within)
    try:
        while conn.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


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


@pytest.mark.parametrize("target, body", [
    ("/", b"<p>hello</p>"),                      # the folder's index page
    ("//sub/page.html", b"<p>sub</p>"),          # empty segments collapse inside the site
    ("/sub//page.html", b"<p>sub</p>"),
    ("/index.html?v=2", b"<p>hello</p>"),
    ("http://localhost/sub/page.html", b"<p>sub</p>"),  # absolute form
])
def test_serves_the_path_the_request_names(server, target, body):
    status, _, got = raw_request(server, f"GET {target} HTTP/1.1")
    assert (status, got) == (200, body)


def test_a_folder_without_slash_redirects(server):
    status, headers, _ = raw_request(server, "GET /sub HTTP/1.1")
    assert status == 301 and headers["Location"] == "/sub/"


@pytest.mark.parametrize("target", ["/../secret.txt", "/%2e%2e/secret.txt", "/empty/../../secret.txt",
                                    "/..%2fsecret.txt", "/./index.html"])
def test_refuses_path_traversal(server, target):
    status, _, body = raw_request(server, f"GET {target} HTTP/1.1")
    assert status == 403
    assert b"do not serve" not in body


# "//escape-dir/secret.txt" is what older Pythons' own path handling let through.
@pytest.mark.parametrize("target", ["/escape", "/escape-dir/secret.txt", "//escape-dir/secret.txt",
                                    "/escape-dir/", "/escape-dir"])
def test_refuses_symlinks_out_of_the_site(server, target):
    status, _, body = raw_request(server, f"GET {target} HTTP/1.1")
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
    ("GET /index.html/ HTTP/1.1", 404),
    ("GET /%C3%A9t%C3%A9.html HTTP/1.1", 404),  # a non-ASCII name stays out of the status line
    ("GET /empty/ HTTP/1.1", 403),
    ("GET /" + "a" * 5000 + " HTTP/1.1", 414),
])
def test_malformed_requests_get_a_clean_4xx(server, request_line, expected):
    status, _, _ = raw_request(server, request_line)
    assert status == expected


@pytest.mark.parametrize("method", ["POST", "PUT", "BREW"])
def test_405_says_which_methods_are_allowed(server, method):
    status, headers, _ = raw_request(server, f"{method} /index.html HTTP/1.1")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_404_page_links_back_to_the_start_page(server):
    status, headers, body = raw_request(server, "GET /nope.html HTTP/1.1")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b'<a href="/">' in body and b"/nope.html is not part of this site" in body


def test_a_half_sent_request_is_closed_after_the_timeout(start):
    srv = start(timeout=0.5)
    with socket.create_connection(srv.server_address[:2]) as conn:
        conn.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n")  # no blank line: never finished
        began = time.monotonic()
        assert closed_by_server(conn, within=5)
        assert time.monotonic() - began < 3


def test_a_trickling_client_is_closed_at_the_deadline_not_kept_alive(start):
    # Slowloris: one byte every 0.1 s would reset a per-read timeout forever.
    srv = start(timeout=0.5)
    request = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 100
    with socket.create_connection(srv.server_address[:2]) as conn:
        began = time.monotonic()
        with pytest.raises(OSError):  # broken pipe or reset once the server has hung up
            for byte in request:
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
        assert time.monotonic() - began < 3


def test_an_idle_keep_alive_connection_is_closed(start):
    srv = start(timeout=0.5)
    with socket.create_connection(srv.server_address[:2]) as conn:
        conn.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
        conn.settimeout(5)
        reply = b""
        while not reply.endswith(b"<p>hello</p>"):  # headers and body may arrive apart
            chunk = conn.recv(65536)
            assert chunk, reply  # closed before the whole reply
            reply += chunk
        assert closed_by_server(conn, within=5)  # kept alive for a next request, then closed when none comes


def test_threads_are_capped_and_waiting_clients_are_served_later(start):
    others = set(threading.enumerate())  # other tests' servers may still hold workers of their own
    srv = start(timeout=0.3, max_threads=2)
    stalled = [socket.create_connection(srv.server_address[:2]) for _ in range(6)]
    try:
        for conn in stalled:
            conn.sendall(b"GET /index.html HTTP/1.1\r\n")  # occupy a worker until the deadline
        time.sleep(0.1)
        workers = [t for t in threading.enumerate() if t.name.startswith("serve-") and t not in others]
        assert len(workers) == 2
        status, _, body = raw_request(srv, "GET /index.html HTTP/1.1")  # queued behind them, then served
        assert (status, body) == (200, b"<p>hello</p>")
    finally:
        for conn in stalled:
            conn.close()


def test_a_client_that_hangs_up_is_logged_in_one_line(site, start, capsys):
    (site / "big.bin").write_bytes(bytes(32 * 1024 * 1024))
    srv = start(quiet=False)
    conn = socket.create_connection(srv.server_address[:2])
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
    conn.recv(1024)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    conn.close()
    deadline = time.monotonic() + 5
    err = ""
    while "disconnected" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capsys.readouterr().err
    assert "disconnected" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "disconnected" in line]) == 1


def test_a_port_in_use_is_a_clear_error(server):
    with pytest.raises(ServeError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*pick another --port"):
        make_server(server.RequestHandlerClass.keywords["directory"], server.server_address[1])


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_rejects_a_bad_port_as_a_usage_error(site, port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(site), "--port", port])
    assert exit_info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_site_for_rejects_a_folder_that_is_neither_run_nor_site(tmp_path):
    with pytest.raises(ExportError, match="neither a run folder"):
        site_for(tmp_path)


def test_site_for_returns_an_exported_site_as_is(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    assert site_for(tmp_path) == tmp_path
