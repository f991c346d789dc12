"""The HTML report opened in a real headless Chromium (DevTools protocol): every image loads,
the console shows no error, and a full-page screenshot is taken.

Without Chromium the test skips, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import in_ci

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1000",
)  # fmt: skip


def _chromium() -> str:
    found = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    if found is None:
        msg = f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}; Debian: chromium)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return found


class DevTools:
    """A minimal DevTools-protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:  # noqa: ANN003
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(f"no {method} within {timeout} s")


@pytest.fixture
def browser(tmp_path):
    exe = _chromium()
    profile = tmp_path / "profile"
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            if proc.poll() is not None:
                pytest.fail(f"Chromium exited with code {proc.returncode} before listening")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            pages = [p for p in json.load(r) if p.get("type") == "page"]
        yield DevTools(pages[0]["webSocketDebuggerUrl"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_report_opens_in_chromium(postprocessed, browser, tmp_path):
    out, _, pdir, page = postprocessed
    n_png = len(list((pdir / "plots").rglob("*.png")))
    assert n_png >= 25
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    images = browser.call(
        "Runtime.evaluate",
        expression="JSON.stringify([...document.images].map(i => "
        "({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, alt: i.alt})))",
        returnByValue=True,
    )["result"]["value"]
    images = json.loads(images)
    assert len(images) == n_png  # every plot of the postprocessing is on the page
    broken = [i["alt"] for i in images if not i["ok"]]
    assert not broken, f"images that did not load: {broken}"
    heads = browser.call(
        "Runtime.evaluate",
        expression="[...document.querySelectorAll('h2')].map(h => h.textContent).join('|')",
        returnByValue=True,
    )["result"]["value"]
    for section in ("Provenance", "Significance and expected limits", "Model comparison",
                    "Cutflow", "All plots"):  # fmt: skip
        assert section in heads
    text = browser.call("Runtime.evaluate", expression="document.body.textContent",
                        returnByValue=True)["result"]["value"]  # fmt: skip
    assert "Configuration SHA-256" in text and "HNL_M300.root" in text and "Run 2" in text
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    png = base64.b64decode(shot["data"])
    Path(tmp_path / "report.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a rendered page, not blank
    errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error")]  # fmt: skip
    assert not errors, f"console errors: {errors}"
