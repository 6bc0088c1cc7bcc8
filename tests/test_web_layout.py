"""How the pages are put together: one chrome (head, Content-Security-Policy, navigation) around
every page, one page registry, the image shape and the metrics read from the manifest, and no
technique or metric named in the pages' code."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from latentcraft.evaluation.registry import PREDICTIONS, format_value, metric_label, registered
from latentcraft.explorer import export as explorer
from latentcraft.explorer import site_bundle
from latentcraft.explorer.serve import url_for
from latentcraft.explorer.site_bundle import PAGES, SitePage

from browser import PHONE, Page, serve

WEB = Path(str(site_bundle.web_files()))
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
NAV = re.compile(r"<nav>(.*?)</nav>")
LINK = re.compile(r'<a href="([^"]*)"[^>]*>([^<]*)</a>')


def web_copy(tmp_path: Path) -> Path:
    """The web files without the runtime, to edit in a test."""
    return Path(shutil.copytree(WEB, tmp_path / "web", ignore=shutil.ignore_patterns(site_bundle.VENDOR_DIR)))


def written_pages(out: Path, web: Path | None = None, pages=PAGES) -> dict[str, str]:
    out.mkdir(exist_ok=True)
    site_bundle.copy_pages(out, web, pages)
    return {page.file: (out / page.file).read_text() for page in pages}


def scripts_text() -> dict[str, str]:
    scripts = [path for path in WEB.rglob("*.js") if site_bundle.VENDOR_DIR not in path.parts]
    return {str(path.relative_to(WEB)): path.read_text() for path in scripts}


# ---- the chrome: one head, one CSP --------------------------------------------------------------


def test_every_page_carries_the_one_csp_of_the_chrome(tmp_path):
    (template_csp,) = CSP.findall((WEB / site_bundle.CHROME_FILE).read_text())
    for name, text in written_pages(tmp_path / "site").items():
        assert CSP.findall(text) == [template_csp], name
        assert text.startswith("<!doctype html>") and text.count("<head>") == 1, name
    for fragment in (WEB / site_bundle.PAGES_DIR).glob("*.html"):  # the pages hold no head of their own
        assert "Content-Security-Policy" not in fragment.read_text() and "<head" not in fragment.read_text()
    # The 404 page's icon is a data: URL, which the policy must allow.
    img_src = next(d for d in template_csp.split(";") if d.strip().startswith("img-src"))
    assert "data:" in img_src.split()


def test_a_csp_change_is_one_edit_of_the_chrome(tmp_path):
    web = web_copy(tmp_path)
    chrome = web / site_bundle.CHROME_FILE
    chrome.write_text(chrome.read_text().replace("connect-src 'self'", "connect-src 'none'"))
    for name, text in written_pages(tmp_path / "site", web).items():
        (csp,) = CSP.findall(text)
        assert "connect-src 'none'" in csp and "connect-src 'self'" not in csp, name


def test_the_404_page_loads_without_a_policy_violation(routed, browser):
    _, server = routed
    page = Page(browser, url_for(server, "no/such/page.html"), wait_ready=False)
    # Headless Chromium fetches no favicon, so load the page's icon as the tab would, under its policy.
    page.js("(() => { window.violations = []; document.addEventListener('securitypolicyviolation', "
            "(e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI)); "
            "const icon = new Image(); icon.src = document.querySelector('link[rel=icon]').href; "
            "document.body.append(icon); })()")
    page.page.wait_for_timeout(300)  # console messages of a refused load arrive after the load event
    assert page.js("window.violations") == []
    # The one console error is the page's own 404 status; the stylesheet and the icon load.
    assert len(page.errors) == 1 and "status of 404" in page.errors[0], page.errors
    assert page.js("getComputedStyle(document.body).margin") == "0px"  # style.css applied
    visible = page.js("Array.from(document.querySelectorAll('header nav a'), "
                      "a => a.hidden ? null : a.getAttribute('href'))")
    assert [href for href in visible if href] == ["/index.html"]  # no scripts there: only the always-there link
    page.close()


# ---- the page registry drives the navigation ----------------------------------------------------


def test_the_navigation_of_every_page_is_the_registry(tmp_path):
    links = [(page.file, page.link) for page in PAGES if page.link is not None]
    for page in PAGES:
        text = written_pages(tmp_path / "site")[page.file]
        (nav,) = NAV.findall(text)
        assert LINK.findall(nav) == [(page.root + file, link) for file, link in links], page.name
    assert [entry["file"] for entry in site_bundle.page_entries()] == [file for file, _ in links]


def test_a_new_page_is_a_fragment_a_script_and_a_registry_line(tmp_path):
    web = web_copy(tmp_path)
    fragment = "<title>latentcraft · extra</title>\n<h1>An extra page</h1>\n<p id=\"status\"></p>\n"
    (web / "pages" / "extra.html").write_text(fragment)
    (web / "pages" / "extra.js").write_text("import { readManifest } from '../lib/page.js';\nreadManifest();\n")
    pages = (*PAGES, SitePage("extra", "Extra", "sliders", about="a page added in a test"))
    out = tmp_path / "site"
    written = written_pages(out, web, pages)
    extra = written["extra.html"]
    assert "<title>latentcraft · extra</title>" in extra and "<h1>An extra page</h1>" in extra
    assert '<script type="module" src="pages/extra.js"></script>' in extra and (out / "pages" / "extra.js").is_file()
    for name, text in written.items():
        assert '.html" data-feature="sliders" hidden>Extra</a>' in NAV.findall(text)[0], name
    assert site_bundle.page_entries(pages)[-1]["file"] == "extra.html"


def test_a_fragment_without_its_title_and_heading_is_refused(tmp_path):
    web = web_copy(tmp_path)
    (web / "pages" / "extra.html").write_text("<p>no title</p>\n")
    with pytest.raises(explorer.ExportError, match="extra.html"):
        written_pages(tmp_path / "site", web, (*PAGES, SitePage("extra", "Extra")))


def test_pages_show_the_registry_pages_the_model_has(routed, browser):
    site, server = routed
    manifest = json.loads((site / explorer.MANIFEST_FILE).read_text())
    assert manifest["pages"] == site_bundle.page_entries()
    page = Page(browser, url_for(server, "sliders.html"))
    nav = page.js("Array.from(document.querySelectorAll('header nav a'), "
                  "a => [a.textContent, a.hidden, a.getAttribute('aria-current')])")
    assert [(text, current) for text, hidden, current in nav if not hidden] == [
        ("Overview", None), ("Sliders", "page"), ("Traversal", None)]  # a 10-D model in a one-model site
    page.close()
    index = Page(browser, url_for(server, "index.html"))
    listed = index.js("Array.from(document.querySelectorAll('#pages li'), li => li.textContent)")
    assert [text.split(" — ")[0] for text in listed] == [p.link for p in PAGES if p.feature]
    assert "not for this model (needs a 2-D latent)" in listed[[p.name for p in PAGES if p.feature].index("plane")]
    index.assert_clean()
    index.close()


# ---- the image shape and the metrics come from the manifest -------------------------------------


def test_no_script_holds_an_image_size_a_metric_key_or_a_technique_flag():
    keys = set(registered())
    for name, text in scripts_text().items():
        code = re.sub(r"//.*", "", text)  # comments may say what MNIST is
        assert not re.search(r"(?<![\w.])(28|784)(?![\w.])", code), name
        assert not [key for key in keys if key in code], name
        assert "conditional" not in code, name


@pytest.fixture()
def reshaped(routed, tmp_path):
    """A copy of the routed site whose manifest says its 784 pixels are 14 rows of 56."""
    site, _ = routed
    copy = tmp_path / "site"
    shutil.copytree(site, copy, copy_function=os.link)
    manifest = json.loads((copy / explorer.MANIFEST_FILE).read_text())
    manifest["image"] = {"height": 14, "width": 56, "channels": 1}
    (copy / explorer.MANIFEST_FILE).unlink()  # a hard link: never write through it into the shared site
    (copy / explorer.MANIFEST_FILE).write_text(json.dumps(manifest))
    server = serve(copy)
    yield copy, server
    server.shutdown()


def test_pages_draw_the_image_shape_the_manifest_gives(reshaped, browser):
    site, server = reshaped
    sizes = "['#input', '#output'].map(s => [document.querySelector(s).width, document.querySelector(s).height])"
    page = Page(browser, url_for(server, "sliders.html"))
    page.js("window.lc.showDigit(3)")
    page.wait("window.lc.lastMu")
    assert page.js(sizes) == [[56, 14], [56, 14]]
    page.assert_clean()
    page.close()

    traversal = Page(browser, url_for(server, "traversal.html"))
    strips = traversal.js("Array.from(document.querySelectorAll('canvas.strip'), c => [c.width, c.height])")
    assert strips and all(size == [560, 14] for size in strips)
    assert traversal.js("document.querySelector('#input').width") == 56
    traversal.assert_clean()
    traversal.close()


def test_metric_columns_come_from_the_registry(routed):
    site, _ = routed
    manifest = json.loads((site / explorer.MANIFEST_FILE).read_text())
    columns = manifest["metric_columns"]
    predictions = [f"test_{name}" for name in PREDICTIONS]  # each technique's prediction accuracy
    assert [c["key"] for c in columns][:len(predictions)] == predictions
    for column in columns:
        assert column["label"] == metric_label(column["key"])
        value = manifest["metrics"].get(column["key"])
        if value is None:
            assert column["value"] is None
        else:
            assert column["value"] == (f"{100 * value:.2f}%" if column["key"] in predictions else format_value(value))
    assert any(c["value"] is not None for c in columns)
    assert [c["key"] for c in site_bundle.metric_columns({})] == [c["key"] for c in columns]  # the same for every model


@pytest.mark.parametrize("viewport", [(1100, 900), PHONE])
def test_the_plane_page_of_a_model_without_a_plane_shows_only_its_message(routed, browser, viewport):
    _, server = routed
    page = Page(browser, url_for(server, "plane.html"), viewport=viewport)
    assert "the plane needs 2" in page.status()
    shown = page.js("Array.from(document.querySelectorAll('main *'))"
                    ".filter((e) => e.id !== 'status' && !e.closest('#status') && e.getClientRects().length)"
                    ".map((e) => e.tagName + '#' + e.id + '.' + e.className)")
    assert shown == []  # no empty canvas, caption, legend or control under the message
    assert page.js("Array.from(document.querySelectorAll('header nav a'), a => !a.hidden && a.textContent)"
                   ".filter(Boolean)") == ["Overview", "Sliders", "Traversal"]
    page.assert_clean()
    page.close()
