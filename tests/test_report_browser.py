"""The comparison's HTML report in a real browser.

`shadowtapctl compare --from tests/data/compare_stats.json --html OUT`
writes the page; Debian's headless chromium loads it, driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: NUL-terminated JSON
on fds 3 and 4, no port to race for, no websocket to write), and the test
checks:

- no console message of level error, no uncaught exception, and no request
  but the page itself: nothing fetched from the network;
- every element with data-figure shows the figure of `shadowtapctl compare
  --from F --json` at that path, formatted as replay/report.h says, and
  the summary's figures are all there, for every route;
- one CDF line per side that timed an answer, drawn (not empty).

Needs $SHADOWTAPCTL (exits 77 without it); skips, saying why, when chromium
is not installed (scripts/install-deps installs it).
"""

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CTL = os.environ.get("SHADOWTAPCTL", os.path.join(HERE, "..", "build", "shadowtapctl"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "chromium")
STATS = os.path.join(HERE, "data", "compare_stats.json")

# What the page's figures and lines are, read in the page.
PAGE_FACTS = """({
  figures: [...document.querySelectorAll('[data-figure]')].map(e =>
    [e.getAttribute('data-route'), e.getAttribute('data-figure'), e.textContent]),
  sections: [...document.querySelectorAll('section')].map(s =>
    [...s.querySelectorAll('polyline')].map(p =>
      [p.getAttribute('data-side'), p.getBBox().width, p.getBBox().height])),
  title: document.title,
})"""


class Chromium:
    """Headless chromium and one page, over the DevTools pipe."""

    def __init__(self, workdir):
        self.log = open(os.path.join(workdir, "chromium.log"), "w+")
        to_chrome, self.to_w = os.pipe()
        self.from_r, from_chrome = os.pipe()
        # fds 3 and 4 in the child: dup2 from fds that cannot be 3 or 4,
        # or it would be a no-op leaving close-on-exec set
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome, from_chrome)]
        os.close(to_chrome)
        os.close(from_chrome)

        def child_fds():
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # --no-sandbox: chromium's sandbox refuses to run as root
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync",
             f"--user-data-dir={os.path.join(workdir, 'profile')}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            close_fds=False, preexec_fn=child_fds)
        for fd in high:
            os.close(fd)
        self.buf = b""
        self.last_id = 0
        self.events = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target,
                                     flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(domain + ".enable", session=self.session)
        except Exception as e:
            tail = self.log_tail()
            self.close()
            raise RuntimeError(f"chromium: {e}; it says:\n{tail}") from e

    def _receive(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.from_r, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buf += chunk
        message, self.buf = self.buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=None, timeout=20, **params):
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.to_w, data):]
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_event(self, method, timeout=20):
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._receive(deadline))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", session=self.session, expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self, page_url):
        """Console errors, exceptions and requests other than the page."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append("exception: " + details.get("exception", {}).get(
                    "description", details["text"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if url != page_url and not url.startswith("data:"):
                    found.append(f"request: {url}")
        return found

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_w)
        os.close(self.from_r)
        self.log.close()

    def log_tail(self):
        self.log.seek(0)
        return self.log.read()[-2000:]


def figure_text(value, key):
    """A figure as replay/report.h formats it, by its member name."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    if key.endswith("_ms"):
        return "%.3f" % value
    if "rate" in key:
        return "%.2f" % (value * 100)
    if key.endswith("_ratio"):
        return "%.2f" % value
    if isinstance(value, int):
        return str(value)
    return "%g" % value


def lookup(base, path):
    """The member at a dotted path (array indexes as numbers); None."""
    for part in path.split("."):
        if isinstance(base, list) and part.isdigit() and int(part) < len(base):
            base = base[int(part)]
        elif isinstance(base, dict):
            base = base.get(part)
        else:
            return None
    return base


class ReportInBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK) and shutil.which(CHROMIUM) is None:
            raise unittest.SkipTest(f"no chromium ({CHROMIUM}): apt-get install chromium")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="st-report-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def ctl(self, *args):
        proc = subprocess.run([CTL, "compare", "--from", STATS, *args], capture_output=True,
                              text=True, timeout=20)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def test_page_shows_the_json(self):
        judged = json.loads(self.ctl("--json"))
        page = os.path.join(self.dir, "report.html")
        self.ctl("--html", page)
        url = "file://" + page
        browser = Chromium(self.dir)
        try:
            browser.events.clear()  # about:blank's own load
            browser.call("Page.navigate", session=browser.session, url=url)
            browser.wait_event("Page.loadEventFired")
            facts = browser.evaluate(PAGE_FACTS)
            problems = browser.problems(url)
            # the harness sees an error when there is one
            browser.evaluate("console.error('probe')")
            browser.wait_event("Runtime.consoleAPICalled", timeout=5)
            self.assertTrue(any("probe" in p for p in browser.problems(url)))
        except (OSError, EOFError, TimeoutError, RuntimeError) as e:
            self.fail(f"{e}; chromium says:\n{browser.log_tail()}")
        finally:
            browser.close()
        self.assertEqual(problems, [])

        routes = {r["name"]: r for r in judged["routes"]}
        shown = set()
        for route, figure, text in facts["figures"]:
            base = judged if route is None else routes.get(route)
            self.assertIsNotNone(base, f"data-route {route!r} is no route of the document")
            want = figure_text(lookup(base, figure), figure.rsplit(".", 1)[-1])
            self.assertEqual(text, want, f"route {route!r}, figure {figure}")
            shown.add((route, figure))
        summary = ["exchanges", "primary.p50_ms", "primary.p99_ms", "shadow.p50_ms",
                   "shadow.p99_ms", "primary.error_rate", "shadow.error_rate",
                   "mismatch_rate", "verdict"]
        for name, route in routes.items():
            for figure in summary:
                self.assertIn((name, figure), shown)
            for i, _ in enumerate(route["reasons"]):
                self.assertIn((name, f"reasons.{i}.text"), shown)
        self.assertIn((None, "verdict"), shown)
        self.assertIn((None, "exchanges"), shown)
        # the fixture's names and samples need escaping: they came through
        self.assertTrue(any(any(c in n for c in "<&\"") for n in routes))

        self.assertEqual(len(facts["sections"]), len(judged["routes"]))
        for route, lines in zip(judged["routes"], facts["sections"]):
            timed = [s for s in ("primary", "shadow", "secondary")
                     if route.get(s, {}).get("histogram", {}).get("count", 0) > 0]
            self.assertEqual([side for side, _, _ in lines], timed, route["name"])
            for side, width, height in lines:
                self.assertGreater(width, 100, f"{route['name']}: {side}")
                self.assertGreater(height, 100, f"{route['name']}: {side}")


if __name__ == "__main__":
    if not os.access(CTL, os.X_OK):
        print(f"SKIP: no shadowtapctl at {CTL} (set SHADOWTAPCTL)")
        sys.exit(77)
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    # every test skipped (no chromium): a skip for meson too
    sys.exit(77 if result.skipped and len(result.skipped) >= result.testsRun else 0)
