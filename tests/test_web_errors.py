"""Errors a user can act on: a missing or damaged site file is named with the fix (re-run
`latentcraft export`), the page never claims to be ready, and a page opened from disk
(file://) says how to serve the folder instead of hanging."""

import os
import shutil
import urllib.error
import urllib.request

import pytest

from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import url_for

from browser import Page, serve


@pytest.fixture()
def damaged_copy(routed, tmp_path):
    """A copy of the routed site (hard links, so it is cheap) that a test may damage."""
    site, _ = routed
    copy = tmp_path / "site"
    shutil.copytree(site, copy, copy_function=os.link)
    server = serve(copy)
    yield copy, server
    server.shutdown()


def replace(path, data: bytes):
    path.unlink()  # a hard link: never write through it into the shared site
    path.write_bytes(data)


def failed_page(browser, server, page):
    view = Page(browser, url_for(server, page), wait_ready=False)
    view.wait("window.lc && window.lc.failed")
    assert view.js("window.lc.ready") is False
    return view


@pytest.mark.parametrize("damage, page, named", [
    ("corrupt encoder", "sliders.html", explorer.ENCODER_FILE),
    ("missing decoder", "traversal.html", explorer.DECODER_FILE),
    ("corrupt manifest", "index.html", explorer.MANIFEST_FILE),
    ("missing manifest", "sliders.html", explorer.MANIFEST_FILE),
    ("truncated digits", "sliders.html", explorer.DIGITS_FILE),
])
def test_a_damaged_site_names_the_file_and_the_fix(damaged_copy, browser, damage, page, named):
    site, server = damaged_copy
    target = site / named
    if damage.startswith("missing"):
        target.unlink()
    elif damage == "truncated digits":
        replace(target, target.read_bytes()[:1000])
    else:
        replace(target, b"\x08\x07 not a protobuf or JSON at all")
    view = failed_page(browser, server, page)
    status = view.status()
    assert status.startswith("Error: ") and named in status and "latentcraft export" in status
    assert "Ready" not in status
    view.close()


def test_a_page_opened_from_disk_says_how_to_serve_it(routed, browser):
    site, _ = routed
    view = Page(browser, (site / "sliders.html").as_uri(), wait_ready=False)
    view.wait("window.lc && window.lc.fileProtocol")
    status = view.status()
    assert "file://" in status and f"latentcraft serve {site}" in status and "static server" in status
    view.close()


def test_an_unknown_address_gets_the_sites_404_page(routed):
    _, server = routed
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(url_for(server, "no/such/page.html"), timeout=10)
    assert answer.value.code == 404
    body = answer.value.read().decode()
    assert 'href="/index.html"' in body and "latentcraft export" in body


@pytest.mark.parametrize("page", ["traversal.html", "sliders.html"])
def test_a_truncated_graph_gets_one_line_naming_the_file_and_the_fix(damaged_copy, browser, page):
    site, server = damaged_copy
    target = site / explorer.DECODER_FILE
    replace(target, target.read_bytes()[: target.stat().st_size // 2])
    view = failed_page(browser, server, page)
    status = view.status()
    assert status.startswith(f"Error: {explorer.DECODER_FILE} is damaged") and "latentcraft export" in status
    assert "ERROR_CODE" not in status and "ERROR_MESSAGE" not in status  # not onnxruntime's raw text
    assert "\n" not in status and status.count(". ") == 0  # one sentence on one line
    assert view.js("window.lc.runtimeError")  # the raw text is kept for whoever debugs it
    view.close()
