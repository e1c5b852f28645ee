"""Headless Chromium driven over the DevTools protocol on a pipe (no extra packages).

`chromium --dump-dom` serialises the light DOM only, and TensorBoard's Polymer dashboards
(scalars, hparams) render inside shadow roots, so the page is read with JavaScript that
walks the shadow roots instead: `--remote-debugging-pipe` takes JSON commands on fd 3
and answers on fd 4, NUL-terminated.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import time

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")

# All text of the page, shadow roots and same-origin frames (the Profile tab) included.
DEEP_TEXT = """(() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    if (node.nodeName === 'IFRAME' && node.contentDocument) walk(node.contentDocument);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else if (!['STYLE', 'SCRIPT', 'TEMPLATE'].includes(child.nodeName)) walk(child);
    }
  };
  walk(document.documentElement);
  return parts.join(' ').replace(/\\s+/g, ' ');
})()"""

# JavaScript defining `elements()`: every node of the page, depth first, shadow roots (and
# the elements in them) included. The snippets below start with it.
ELEMENTS = """const elements = function* () {
  const stack = [document.documentElement];
  while (stack.length) {
    const node = stack.pop();
    if (node.shadowRoot) stack.push(node.shadowRoot);
    for (const child of node.children || []) stack.push(child);
    yield node;
  }
};
"""

# Clicks the first element (shadow roots included) whose own text is `label`.
CLICK_TEXT = """((label) => {
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.nodeType === Node.ELEMENT_NODE && node.textContent.trim() === label
        && node.offsetParent !== null) { node.click(); return true; }
  }
  return false;
})(%s)"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless browser with one page: `open(url)`, `text()`, `screenshot(path)`."""

    def __init__(self, user_data_dir, width=1280, height=800, binary=None, stderr=None):
        binary = binary or find_chromium()
        if binary is None:
            raise FileNotFoundError("no chromium (apt-get install chromium)")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # the pipe ends Chromium expects: commands on 3, answers on 4
            read_end, write_end = os.dup(to_chrome_r), os.dup(from_chrome_w)  # above 4
            while read_end <= 4 or write_end <= 4:
                read_end, write_end = os.dup(read_end), os.dup(write_end)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        args = [binary, *FLAGS, f"--user-data-dir={user_data_dir}",
                f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
        self.process = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                        stdout=subprocess.DEVNULL,
                                        stderr=stderr or subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer, self._next_id = b"", 0
        self.width, self.height = width, height
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=True)

    def send(self, method, params=None, session=False, timeout=30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise TimeoutError("chromium closed the pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url):
        self.send("Page.navigate", {"url": url}, session=True)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=True)
        return result.get("result", {}).get("value")

    def text(self):
        return self.evaluate(DEEP_TEXT) or ""

    def click_text(self, label):
        return bool(self.evaluate(CLICK_TEXT % json.dumps(label)))

    def wait_for_text(self, words, timeout=60):
        """Polls the page until its text holds every word; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if all(w in text for w in words) or time.monotonic() > deadline:
                return text
            time.sleep(0.5)

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
