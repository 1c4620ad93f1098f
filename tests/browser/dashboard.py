#!/usr/bin/env python3
"""Drives the VOIDX dashboard in headless Chromium and checks every page.

    python3 tests/browser/dashboard.py --url http://127.0.0.1:8080 --out /tmp/shots [--chromium /usr/bin/chromium]

Run by tests/it/dashboard.rs against a `serve --demo` that has had traffic. For every page (by
clicking its tab, so the links are tested too) it waits until the page's charts have loaded, then
fails (exit status 1) when the page logged a console error or threw, when a chart has no data
point (`data-points` < 1) or did not render, or when the SQL behind a chart is missing. It writes a
full-page screenshot per page into --out.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages
separated by NUL bytes on file descriptors 3 and 4), so the driver needs nothing beyond the Python
standard library and the Debian `chromium` package; no WebSocket client, no browser download.
"""

import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PAGES = ["business", "models", "serving", "drift", "pipelines"]
PAGE_TIMEOUT_S = 45
WIDTH, HEIGHT = 1400, 900


class Browser:
    """One headless Chromium and one tab, over the DevTools pipe."""

    def __init__(self, chromium, profile):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Move both ends to high descriptors first, so placing them on 3 and 4 cannot clobber either.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 20)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 20)

        def place_fds():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, preexec_fn=place_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "wb"),
        )
        for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
            os.close(fd)
        self._next_id = 0
        self._replies = {}
        self._cond = threading.Condition()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                with self._cond:
                    self._replies["closed"] = True
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def send(self, method, params=None, session=True, timeout=30):
        self._next_id += 1
        mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._replies:
                if "closed" in self._replies:
                    raise RuntimeError(f"chromium closed the DevTools pipe during {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no answer to {method} within {timeout} s")
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open_tab(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.1)
        return False

    def screenshot(self, path):
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        height = max(HEIGHT, int(size["height"]))
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def errors(self):
        """Console errors, uncaught exceptions and browser-logged errors so far."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console." + params["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                found.append("uncaught: " + d.get("exception", {}).get("description", d.get("text", "")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"log: {entry.get('text')} {entry.get('url', '')}")
        return found

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except RuntimeError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


CHARTS_JS = """JSON.stringify([...document.querySelectorAll('#charts .chart[data-chart]')].map(c => ({
  id: c.dataset.chart, kind: c.dataset.kind, state: c.dataset.state, points: Number(c.dataset.points || 0),
  sql: (c.querySelector('details.sql-behind pre.sql') || {}).textContent || '',
  drawn: c.querySelectorAll('.plot canvas, .plot table, .plot .bars .row').length,
  text: (c.querySelector('.plot') || {}).textContent || ''
})))"""


def check_page(browser, page, out_dir, problems):
    # A tab click, not a URL: the links are part of what is tested.
    clicked = browser.evaluate(
        f"(() => {{ const a = document.querySelector('#tabs a[data-page=\"{page}\"]'); if (!a) return false; a.click(); return true; }})()")
    if not clicked:
        problems.append(f"{page}: no tab link")
        return []
    if not browser.wait_for(f"document.body.dataset.ready === '{page}' && location.hash === '#{page}'",
                            PAGE_TIMEOUT_S):
        problems.append(f"{page}: charts did not finish loading within {PAGE_TIMEOUT_S} s")
    charts = json.loads(browser.evaluate(CHARTS_JS))
    if not charts:
        problems.append(f"{page}: no charts on the page")
    for c in charts:
        where = f"{page}/{c['id']} ({c['kind']})"
        if c["state"] != "ok" or c["points"] < 1:
            problems.append(f"{where}: state {c['state']}, {c['points']} data points: {c['text'][:300]}")
        if c["drawn"] < 1:
            problems.append(f"{where}: nothing drawn")
        if "SELECT" not in c["sql"].upper() or "$" in c["sql"]:
            problems.append(f"{where}: the SQL behind it is missing or was not the statement that ran")
    if page == "pipelines" and not browser.evaluate("!!document.querySelector('#health .health span')"):
        problems.append("pipelines: the /health panel is missing")
    # Show one chart's SQL in the screenshot.
    browser.evaluate("(() => { const d = document.querySelector('#charts details.sql-behind'); if (d) d.open = true; })()")
    browser.screenshot(os.path.join(out_dir, f"dashboard-{page}.png"))
    return charts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    if not os.path.exists(args.chromium):
        sys.exit(f"dashboard.py: no chromium at {args.chromium}. Help: apt-get install -y chromium "
                 "(scripts/test.sh installs it)")
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    problems = []
    with tempfile.TemporaryDirectory(prefix="voidx-chromium-") as profile:
        browser = Browser(args.chromium, profile)
        try:
            browser.open_tab()
            # The error capture itself is checked first: a thrown error and a
            # console.error on a blank page must both be seen, or this check could never fail.
            browser.evaluate("setTimeout(() => { throw new Error('probe'); }, 0); console.error('probe')")
            if not browser.wait_for("new Promise(r => setTimeout(() => r(true), 200))", 5) or \
                    len([e for e in browser.errors() if "probe" in e]) < 2:
                problems.append(f"the error capture missed a probe error: {browser.errors()}")
            browser.events.clear()
            browser.send("Page.navigate", {"url": args.url.rstrip("/") + "/"})
            if not browser.wait_for("document.querySelectorAll('#tabs a').length > 0", PAGE_TIMEOUT_S):
                problems.append("the page never listed its tabs (GET /v1/dashboard failed?)")
            else:
                total = 0
                for page in PAGES:
                    charts = check_page(browser, page, args.out, problems)
                    total += len(charts)
                    print(f"{page}: {len(charts)} charts, points "
                          + ", ".join(f"{c['id']}={c['points']}" for c in charts), flush=True)
                # The refresh button and the range picker redraw the page without errors or lost data.
                browser.evaluate("document.getElementById('range').value = '86400'; "
                                 "document.getElementById('range').dispatchEvent(new Event('change'))")
                browser.wait_for("document.body.dataset.ready === 'pipelines'", PAGE_TIMEOUT_S)
                browser.evaluate("document.getElementById('refresh').click()")
                if not browser.wait_for("document.body.dataset.ready === 'pipelines'", PAGE_TIMEOUT_S):
                    problems.append("pipelines: the refresh button never finished")
                for c in json.loads(browser.evaluate(CHARTS_JS)):
                    if c["state"] != "ok" or c["points"] < 1:
                        problems.append(f"pipelines/{c['id']} after a refresh over 24 h: state {c['state']}, "
                                        f"{c['points']} points")
                print(f"{total} charts checked", flush=True)
            problems.extend(browser.errors())
        finally:
            browser.close()
    print(f"browser check took {time.monotonic() - started:.1f} s", flush=True)
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems), flush=True)
        sys.exit(1)
    print("dashboard OK", flush=True)


if __name__ == "__main__":
    main()
