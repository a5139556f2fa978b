"""End to end: a real headless Chromium drives the page served by uvicorn, with the weights bundled in the package.

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright for Python
(``pip install playwright``; its own browser download is not used).
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from PIL import Image

uvicorn = pytest.importorskip("uvicorn")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: pip install playwright")

from stylecloak.sample import paint_sample
from stylecloak.verdict import AFTER_REUPLOAD, protection_verdict
from stylecloak.web import create_app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium")


class Served(NamedTuple):
    url: str
    app: object
    profiles: Path


@pytest.fixture
def server(tiny_weights: Path, tmp_path: Path) -> Iterator[Served]:
    """uvicorn serving the app on a free loopback port, in a thread (two optimisation steps an image)."""
    app = create_app(weights_dir=tiny_weights, profile_dir=tmp_path / "profiles", work_dir=tmp_path / "work", steps_override=2, device="cpu")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}/", app, tmp_path / "profiles")
    instance.should_exit = True
    thread.join(20)
    sock.close()
    assert not app.state.jobs.root.exists()


def launch(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def test_a_mixed_batch_the_gauge_and_a_reload(server: Served, tmp_path: Path) -> None:
    source = tmp_path / "my painting.jpg"
    paint_sample(64).save(source, quality=92)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")

    with playwright_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 900})
            page.goto(server.url)
            page.wait_for_selector("#style option[value='mosaic']", state="attached")
            assert page.locator("#intensity option:checked").inner_text() == "Subtle (default)"
            page.select_option("#quality", "fast")
            page.select_option("#style", "mosaic")
            page.set_input_files("#file-input", [str(source), str(bad)])
            assert page.locator("#chosen img.thumb").count() == 2
            page.click("#protect")
            job = page.locator("article.job[data-status='done']")
            job.wait_for(timeout=120_000)
            job_id = job.get_attribute("data-job")

            item = job.locator(".item[data-status='done']")
            assert item.locator("h3").inner_text() == "my painting.jpg"
            failed = job.locator(".item[data-status='failed']")
            assert failed.locator("h3").inner_text() == "notes.png"
            assert failed.locator(".error").inner_text().startswith("notes.png: not a PNG")

            (done,) = [i for i in server.app.state.jobs.status(job_id)["items"] if i["status"] == "done"]
            word, percent = protection_verdict(done["summary"])
            assert set(done["summary"][AFTER_REUPLOAD]) >= {"jpeg75", "downscale_half"}
            assert item.locator(".gauge-word").inner_text().lower() == word
            assert item.locator(".gauge-percent").inner_text() == f"{percent} %"
            assert re.match(rf"Protection {word}: {percent}\W%", item.locator(".gauge-text").inner_text())

            assert "PSNR" not in item.locator(".result-side > .words").inner_text()
            details = item.locator("details.details")
            assert not details.locator(".technical").is_visible()
            details.locator("summary").click()
            assert "dB" in details.locator(".technical").inner_text()

            captions = item.locator(".preview-captions span")
            assert captions.count() == 3 and "mosaic" in captions.nth(2).inner_text()
            assert captions.nth(0).evaluate("node => parseFloat(getComputedStyle(node).fontSize)") >= 12
            assert item.locator(".stage img.before").evaluate("img => img.complete && img.naturalWidth") == 64

            with page.expect_download() as info:
                item.locator("a.primary").click()
            download = tmp_path / info.value.suggested_filename
            info.value.save_as(download)
            assert download.name == "my painting-protected.jpg"
            with Image.open(download) as out:
                assert out.size == (64, 48) and out.format == "JPEG"

            page.reload()
            again = page.locator(f"article.job[data-job='{job_id}'][data-status='done']")
            again.wait_for(timeout=10_000)
            assert again.locator(".item[data-status='failed'] h3").inner_text() == "notes.png"
            assert again.locator(".item[data-status='done'] .gauge-word").inner_text().lower() == word

            shot = ROOT / "artifacts" / "web-finished.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        finally:
            browser.close()


EVIL_PAGE = """<!doctype html><html><body>
<form id="form" method="POST" action="{app}api/jobs" enctype="multipart/form-data">
  <input name="style" value="auto"><input name="artist" value="csrf-victim"><input type="file" name="files" id="file">
</form>
<script>
const png = Uint8Array.from(atob("{png}"), (c) => c.charCodeAt(0));
const file = () => new File([png], "x.png", {{ type: "image/png" }});
function body() {{
  const form = new FormData();
  form.append("style", "auto");
  form.append("artist", "csrf-victim");
  form.append("files", file());
  return form;
}}
async function attack() {{
  const results = {{}};
  try {{
    await fetch("{app}api/jobs", {{ method: "POST", body: body(), mode: "no-cors" }});
    results.simple = "sent";
  }} catch (e) {{ results.simple = "blocked"; }}
  try {{
    const r = await fetch("{app}api/jobs", {{ method: "POST", body: body(), headers: {{ "X-Stylecloak-Token": "guess" }} }});
    results.preflighted = r.status;
  }} catch (e) {{ results.preflighted = "blocked"; }}
  return results;
}}
function submitForm() {{
  const files = new DataTransfer();
  files.items.add(file());
  document.getElementById("file").files = files.files;
  document.getElementById("form").submit();
}}
</script></body></html>"""


@pytest.fixture
def evil_site(server: Served, tmp_path: Path) -> Iterator[str]:
    """Another website: a page served on another loopback port that targets the app."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    root = tmp_path / "evil"
    root.mkdir()
    (root / "index.html").write_text(EVIL_PAGE.format(app=server.url, png=base64.b64encode(buffer.getvalue()).decode()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def test_other_websites_cannot_start_jobs(server: Served, evil_site: str) -> None:
    jobs = server.app.state.jobs
    with playwright_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(evil_site)
            results = page.evaluate("attack()")
            assert results["preflighted"] == "blocked"  # a custom header needs CORS, which the app never grants
            with page.expect_navigation() as navigation:
                page.evaluate("submitForm()")
            assert navigation.value.status == 403
            assert "Cross-site request refused" in page.content()
            assert jobs._jobs == {} and not list(server.profiles.glob("*.json"))  # the simple fetch was refused too

            page.goto(server.url)  # the app's own page still gets through both checks
            page.wait_for_selector("#style option[value='mosaic']", state="attached")
            answer = page.evaluate(
                """fetch('/api/jobs/unknown/cancel', { method: 'POST', headers: {
                     'X-Stylecloak-Token': document.querySelector('meta[name="stylecloak-token"]').content } })
                   .then((r) => r.json()).then((body) => body.error)"""
            )
            assert answer.startswith("No such job")
        finally:
            browser.close()
