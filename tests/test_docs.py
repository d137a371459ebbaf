"""The docs site: built with mkdocs in strict mode (warnings are errors), every internal link and
image resolves, and the pages open in a headless browser with no console errors and every image
loaded. ``make test`` builds the site with the tutorials executed (``make docs``) and points
``DDCORE_DOCS_SITE`` at it; alone, the test builds it itself without executing them."""

import functools
import http.server
import os
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin

import pytest

import ddcore
from tests.helpers import REPOSITORY, browser_dom, console_errors

pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install '.[docs]'")

TUTORIALS = sorted(p.stem for p in (REPOSITORY / "docs" / "tutorials").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    built = os.environ.get("DDCORE_DOCS_SITE")
    if built:
        return Path(built).resolve()
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "DOCS_EXECUTE_NOTEBOOKS": "false", "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
                            cwd=REPOSITORY, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


@functools.lru_cache(maxsize=None)
def _parse(path):
    parser = _Links()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return parser


def _target(site, page, href):
    """The file an internal href of ``page`` points to, and its anchor; None for external ones."""
    if href.startswith(("http://", "https://", "mailto:", "data:", "javascript:")):
        return None
    url, anchor = urldefrag(urljoin("file://" + str(page), unquote(href)))
    path = Path(url[len("file://"):])
    if path.is_dir() or url.endswith("/"):
        path = path / "index.html"
    return path, anchor


def _pages(site):
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.parts and p.name != "404.html")


def test_every_internal_link_and_image_resolves(site):
    pages = _pages(site)
    assert len(pages) >= 15
    broken = []
    for page in pages:
        parsed = _parse(page)
        for href in parsed.links + parsed.images:
            found = _target(site, page, href)
            if found is None:
                continue
            path, anchor = found
            if not path.exists():
                broken.append(f"{page.relative_to(site)}: {href} (no {path})")
            elif anchor and path.suffix == ".html" and anchor not in _parse(path).ids:
                broken.append(f"{page.relative_to(site)}: {href} (no #{anchor})")
    assert not broken, "\n".join(broken)


def test_the_reference_lists_every_data_type_with_fields_units_and_options(site):
    for detector in ddcore.detectors():
        html = (site / "reference" / detector / "index.html").read_text()
        assert f"{detector}_data_types.svg" in html
        for data_type in ddcore.get_detector(detector).provides:
            assert f"<code>{data_type}</code>" in html, (detector, data_type)
    xenon1t = (site / "reference" / "xenon1t" / "index.html").read_text()
    assert "Main S1 Area [PE]" in xenon1t and "electron_lifetime_us" in xenon1t and "[us]" in xenon1t
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "ddcore show" in cli and "--html" in cli and "ddcore make" in cli
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "ddcore.context" in api and "upper_limit" in api


def test_tutorials_are_rendered_with_their_outputs_when_executed(site):
    for name in TUTORIALS:
        assert (site / "tutorials" / name / "index.html").exists(), name
    if not os.environ.get("DDCORE_DOCS_SITE"):
        pytest.skip("the tutorials run in `make docs` (DDCORE_DOCS_SITE); this build did not execute them")
    first = (site / "tutorials" / "01_first_look" / "index.html").read_text()
    assert "events pass the cS1 window and the fiducial radius" in first and "data:image/png;base64" in first
    search = (site / "tutorials" / "04_search_and_limits" / "index.html").read_text()
    assert "90% CL limit" in search and "observed Z" in search


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.mark.parametrize("page", ["", "concepts/", "results/", "reference/xenon1t/", "reference/api/",
                                  "tutorials/01_first_look/", "tutorials/04_search_and_limits/"])
def test_pages_open_in_a_browser_without_errors_and_with_every_image(site, served, page, tmp_path):
    dom, console = browser_dom(served + page, tmp_path / "profile", wait_ms=15_000)
    assert not console_errors(console), console
    assert 'data-images-broken="0"' in dom, "an image did not load"
    images = len(_parse(site / page / "index.html").images)
    assert f'data-images-loaded="{images}"' in dom


def test_tutorials_are_kept_without_outputs():
    import json

    assert len(TUTORIALS) >= 5
    for name in TUTORIALS:
        notebook = json.loads((REPOSITORY / "docs" / "tutorials" / f"{name}.ipynb").read_text())
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code), name
