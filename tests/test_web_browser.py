"""End to end: a real headless Chromium drives the page served by uvicorn.

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright for Python
(``pip install playwright``; its own browser download is not used).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylecloak[web]'")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed: pip install 'stylecloak[web]'")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: pip install playwright")

from stylecloak.web import create_app

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "models"
PAINTINGS = sorted((SHARED / "data" / "paintings").glob("*/*.jpg"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium"),
    pytest.mark.skipif(
        not (WEIGHTS / "taef2_encoder.pth").exists() or not PAINTINGS,
        reason=f"needs the shared weights and paintings in {SHARED}",
    ),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, in a thread; yields the base URL."""
    app = create_app(weights_dir=WEIGHTS, profile_dir=tmp_path / "profiles")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    instance.should_exit = True
    thread.join(20)
    sock.close()
    assert not app.state.jobs.root.exists()


def test_protect_in_the_browser(server: str, tmp_path: Path) -> None:
    with Image.open(PAINTINGS[0]) as im:
        im = im.convert("RGB")
        im.thumbnail((128, 128), Image.LANCZOS)
        source = tmp_path / "my painting.jpg"
        im.save(source, quality=92)
        size = im.size

    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 900})
            page.goto(server)
            page.wait_for_selector("#style option[value='mosaic']", state="attached")
            page.select_option("#quality", "fast")
            page.select_option("#style", "mosaic")
            page.set_input_files("#file-input", str(source))
            page.click("#protect")
            job = page.locator("article.job")
            page.locator("article.job[data-status='done']").wait_for(timeout=90_000)

            item = job.locator(".item[data-status='done']")
            assert item.locator("h3").inner_text() == "my painting.jpg"
            preview = item.locator(".preview img")
            preview.wait_for()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
            words = item.locator(".words dd").all_inner_texts()
            assert "of the way toward 'mosaic'" in words[0] and "PSNR" in words[1]
            assert item.locator(".stage img.before").evaluate("img => img.naturalWidth") == size[0]

            with page.expect_download() as info:
                item.locator("a.primary").click()
            download = tmp_path / info.value.suggested_filename
            info.value.save_as(download)
            assert download.name == "my painting-protected.jpg"
            with Image.open(download) as out:
                assert out.size == size and out.format == "JPEG"

            shot = ROOT / "artifacts" / "web-finished.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        finally:
            browser.close()
