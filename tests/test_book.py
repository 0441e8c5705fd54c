"""Build the book from the notebooks' saved outputs and look at it in a real browser.

The build does not execute the notebooks again: nbval has just run every one of them in
the same ``make test``, and the saved outputs are what a reader sees on GitHub and in
Colab, so the pages are built from exactly those (``make book`` executes them afresh).

Checks that every chapter page exists with its Colab launch button, exercises and
figures; that every figure is a real image served by the site; and, in Chromium, that the
pages load and MathJax (served from the site itself, no network) typesets the math.
Screenshots are saved under ``_build/screenshots/`` for people to look at.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())
REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


@pytest.fixture(scope="module")
def site():
    """Build the whole book into a temporary folder; serve it on localhost."""
    output = Path(tempfile.mkdtemp(prefix="scratchformer-book-"))
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # the saved outputs, see the docstring
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / path) for name, path in extensions.items()
    }
    (output / "_config.yml").write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
         "--config", str(output / "_config.yml"), "-W", "--keep-going"],
        check=False,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert build.returncode == 0, (
        f"book build failed:\n{build.stdout[-6000:]}\n{build.stderr[-3000:]}"
    )
    html = output / "_build" / "html"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    shutil.rmtree(output, ignore_errors=True)


def _shades(image: Image.Image) -> int:
    """How many grey levels an image uses (1 for a blank one)."""
    return sum(1 for count in image.convert("L").histogram() if count)


def _page(html: Path, chapter: str) -> str:
    return (html / f"{chapter}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_has_launch_button_exercises_and_figures(site, chapter):
    html, _ = site
    page = _page(html, chapter)
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{owner_repo}/blob/main/{chapter}.ipynb" in page
    assert page.count('class="admonition exercise') >= 3 or page.count("exercise admonition") >= 3
    assert "solution" in page and "dropdown" in page
    assert re.search(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', page), (
        "no executed figure on the page"
    )
    assert "_static/mathjax/tex-mml-chtml.js" in page


def test_figures_are_real_images_served_by_the_site(site):
    html, base = site
    for chapter in CHAPTERS:
        sources = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+\.png)"', _page(html, chapter))
        for src in sources:
            url = f"{base}/{Path(chapter).parent.as_posix()}/{src}"
            with urllib.request.urlopen(url) as response:
                image = Image.open(io.BytesIO(response.read()))
                assert min(image.size) >= 50, f"{src} is too small to be a figure"
                assert _shades(image) > 2, f"{src} is blank"


def _chromium() -> str:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not found:
        message = "Chromium is not installed (Debian: `apt-get install chromium`; `make test` does it as root)"
        if os.environ.get("SCRATCHFORMER_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; SCRATCHFORMER_REQUIRE_BROWSER=1 asks for the browser check.")
        pytest.skip(message)
    return found


def _browse(url: str, *extra: str) -> str:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        command = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--window-size=1280,2000",
            *extra,
            url,
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_math_in_a_real_browser(site, chapter):
    _, base = site
    dom = _browse(f"{base}/{chapter}.html", "--dump-dom")
    assert "<mjx-container" in dom, "MathJax did not typeset the page"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{Path(chapter).name}.png"
    _browse(f"{base}/{chapter}.html", f"--screenshot={shot}")
    image = Image.open(shot)
    assert image.size == (1280, 2000) and _shades(image) > 10
    print(f"screenshot: {shot}")


def test_front_page_loads(site):
    _, base = site
    dom = _browse(f"{base}/index.html", "--dump-dom")
    assert "Transformers from Scratch" in dom
    for chapter in CHAPTERS:
        assert Path(chapter).name in dom, f"{chapter} is missing from the navigation"
