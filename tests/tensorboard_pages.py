"""TensorBoard's pages as a person sees them: a server over a logdir, tabs in headless Chromium.

Shared by the browser tests and `docs/make_screenshots.py`:

    with serve(logdir, runs=["api_run/train"]) as url, \\
            Chromium(profile, 1400, 820) as browser:
        text = show(browser, url, "hparams", ["Trial ID", "api_run"])
        browser.screenshot("hparams.png")

`serve` starts `tensorboard --logdir` on a free loopback port and waits until the given
runs are listed (`/data/runs`); `show` opens a tab (`scalars`, `timeseries`, `images`,
`hparams`), waits for words in the page's text (shadow roots included) and lets the
charts settle. `image_states` reads every <img> of the page through the shadow roots,
`hparams_table` the HParams table view as shown, `hparams_columns` picks its columns.
`train_example_runs` trains the two real runs that the dashboard test and the README's
screenshots show.
"""

import contextlib
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from headless_chromium import ELEMENTS, Chromium, find_chromium

__all__ = ["API_RUN", "ARTIFACTS", "Chromium", "EXAMPLE_RUNS", "EXP_RUN", "HPARAMS_VIEWS",
           "REPO", "TABS", "click_selector", "find_chromium", "free_port", "get", "get_json",
           "hparams_columns", "hparams_table", "image_states", "keep", "open_categories",
           "png_dimensions", "resize", "scalars", "serve", "show", "tensorboard_binary",
           "train_example_runs", "wait_for_location"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(REPO, "logs", "test-artifacts")
TABS = {"scalars": "/#scalars", "timeseries": "/#timeseries", "images": "/#images",
        "hparams": "/#hparams", "histograms": "/#histograms", "graphs": "/#graphs"}
HPARAMS_VIEWS = {"table": "TABLE VIEW", "parallel": "PARALLEL COORDINATES VIEW",
                 "scatter": "SCATTER PLOT MATRIX VIEW"}

# Every <img> of the page (shadow roots included): where it points, whether it has loaded.
IMAGE_STATES = """(() => {
  const found = [];
  const stack = [document.documentElement];
  while (stack.length) {
    const node = stack.pop();
    if (node.shadowRoot) stack.push(node.shadowRoot);
    if (node.nodeName === 'IFRAME' && node.contentDocument) stack.push(node.contentDocument);
    for (const child of node.children || []) stack.push(child);
    if (node.nodeName === 'IMG') {
      found.push({src: node.currentSrc || node.src || '', complete: node.complete,
                  naturalWidth: node.naturalWidth, naturalHeight: node.naturalHeight,
                  visible: node.offsetParent !== null});
    }
  }
  return found;
})()"""


def tensorboard_binary():
    """The `tensorboard` of this Python's environment (the venv's), else the one on PATH."""
    for folder in (os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")):
        path = os.path.join(folder, "tensorboard")
        if os.path.exists(path):
            return path
    return shutil.which("tensorboard") or "tensorboard"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, path, **params):
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    with urllib.request.urlopen(url + path + query, timeout=30) as response:
        return response.read()


def get_json(url, path, **params):
    """A TensorBoard JSON answer (the profile plugin gzips its own, asked or not)."""
    body = get(url, path, **params)
    return json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)


def scalars(url, run, tag):
    """`[(wall_time, step, value), ...]` of one scalar tag of one run, from the data API."""
    return get_json(url, "/data/plugin/scalars/scalars", run=run, tag=tag)


@contextlib.contextmanager
def serve(logdir, runs=(), timeout=120, log_path=None, reload_interval=2):
    """`tensorboard --logdir logdir` on a free loopback port, yielding its URL once every
    run in `runs` (e.g. `"api_run/train"`) is listed; stopped on exit. Its output goes to
    `log_path` (else nowhere) and is quoted when it dies or never lists the runs."""
    port = free_port()
    log = open(log_path, "w") if log_path else None
    process = subprocess.Popen(
        [tensorboard_binary(), "--logdir", os.fspath(logdir), "--host", "127.0.0.1",
         "--port", str(port), "--reload_interval", str(reload_interval)],
        stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def output():
        if not log_path:
            return "(no log kept)"
        log.flush()
        with open(log_path) as f:
            return f.read()[-4000:]

    try:
        wanted, listed = set(runs), set()
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tensorboard exited ({process.returncode}): {output()}")
            try:
                listed = set(get_json(url, "/data/runs"))
                if wanted <= listed:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"tensorboard did not list {sorted(wanted - listed)} in "
                                   f"{timeout}s (listed: {sorted(listed)}): {output()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            log.close()


def wait_for_location(browser, address, timeout=30):
    """Waits until a page of `address`'s origin and path (its query and hash, which pages
    rewrite, aside) has loaded: document.readyState complete."""
    target = json.dumps(address)
    check = (f"(location.href === {target} || (location.origin + location.pathname) === "
             f"(u => u.origin + u.pathname)(new URL({target})))"
             " && document.readyState === 'complete'")
    deadline = time.monotonic() + timeout
    while not browser.evaluate(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{address} did not load in {timeout}s "
                               f"(at {browser.evaluate('location.href')})")
        time.sleep(0.2)


def show(browser, url, tab, words=(), timeout=90, settle=1.5, query=""):
    """Opens `tab` (a name of TABS, or a `/#...` path such as `/#scalars&tagFilter=loss`)
    in a fresh page load and waits until the page's text holds every word (or `timeout`
    passes); then `settle` seconds for the charts to draw. `query` goes before the hash
    (`tagFilter=loss` for the time series). Returns the page's text."""
    # Through a blank page: a new hash alone would keep the other tabs' text in the page.
    browser.open("about:blank")
    wait_for_location(browser, "about:blank")
    path = TABS.get(tab, tab)
    if query:
        path = "/?" + query + path.lstrip("/")
    browser.open(url + path)
    wait_for_location(browser, url + path)
    text = browser.wait_for_text(list(words), timeout=timeout)
    time.sleep(settle)
    return browser.text() if settle else text


def resize(browser, width, height):
    """A new viewport size (a card list taller than the window loads only what it shows)."""
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                 session=True)
    browser.width, browser.height = width, height


def image_states(browser):
    """Every <img> of the page: `{"src", "complete", "naturalWidth", "naturalHeight",
    "visible"}`."""
    return browser.evaluate(IMAGE_STATES) or []


def keep(path, name):
    """A copy of a screenshot in `logs/test-artifacts/` (ignored by git), to look at."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copyfile(path, os.path.join(ARTIFACTS, name))


def png_dimensions(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


# The HParams table view as shown: its header cells and its rows of cells, read from the
# vaadin-grid inside tf-hparams-table-view (rows the grid keeps hidden are left out).
HPARAMS_TABLE = """(() => {
  const grids = [];
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.nodeName === 'VAADIN-GRID' && node.classList.contains('session-group-table')
        && node.offsetParent !== null) grids.push(node);
  }
  if (!grids.length) return null;
  const grid = grids[0];
  const cellText = (cell) => {
    const slot = cell.querySelector('slot');
    const nodes = slot ? slot.assignedNodes({flatten: true}) : [cell];
    return nodes.map(n => n.textContent).join(' ').replace(/\\s+/g, ' ').trim();
  };
  const rowCells = (row) => Array.from(row.children)
    .filter(cell => !cell.hidden && getComputedStyle(cell).display !== 'none')
    .map(cellText);
  const header = grid.shadowRoot.querySelector('thead tr');
  const rows = Array.from(grid.shadowRoot.querySelectorAll('tbody#items tr'))
    .filter(row => !row.hidden && row.offsetParent !== null && row.textContent !== null)
    .map(rowCells).filter(cells => cells.some(c => c));
  return {header: header ? rowCells(header) : [], rows: rows};
})()"""

# Ticks (or unticks) the HParams query pane's column checkboxes: `wanted` maps a column's
# name as shown (`learning_rate`, `validation.accuracy`) to whether it is displayed;
# null shows every column. Returns the names of all the column checkboxes.
HPARAMS_COLUMNS = """((wanted) => {
  const names = [];
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.nodeName === 'PAPER-CHECKBOX' && (node.classList.contains('hparam-checkbox')
        || node.classList.contains('metric-checkbox'))) {
      const name = node.textContent.trim();
      names.push(name);
      const show = wanted === null ? true : Boolean(wanted[name]);
      if (Boolean(node.checked) !== show) node.click();
    }
  }
  return names;
})(%s)"""


def hparams_table(browser):
    """The HParams table view as shown: `{"header": [...], "rows": [[...], ...]}` (None
    while it is not drawn)."""
    return browser.evaluate(HPARAMS_TABLE)


def hparams_columns(browser, shown=None):
    """Shows the HParams table's columns named in `shown` (as the query pane names them)
    and hides the others; None shows them all. Returns every column name offered."""
    wanted = None if shown is None else {name: True for name in shown}
    return browser.evaluate(HPARAMS_COLUMNS % json.dumps(wanted)) or []


# Opens the collapsed tag categories of a Polymer dashboard (Scalars, Images: only the
# first ones start open) by clicking their headings; returns the names it opened.
OPEN_CATEGORIES = """((names) => {
  const opened = [];
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.nodeName === 'TF-CATEGORY-PAGINATED-VIEW' && !node.opened && node.category
        && node.offsetParent !== null && (names === null || names.includes(node.category.name))) {
      const heading = node.shadowRoot && node.shadowRoot.querySelector('button.heading');
      if (heading) { heading.click(); opened.push(node.category.name); }
    }
  }
  return opened;
})(%s)"""


def open_categories(browser, names=None):
    """Opens the collapsed tag categories named in `names` (None: all of them)."""
    return browser.evaluate(OPEN_CATEGORIES % json.dumps(None if names is None
                                                         else list(names))) or []


# Clicks the first visible element matching a CSS selector, shadow roots included.
CLICK_SELECTOR = """((selector) => {
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.matches && node.matches(selector) && node.offsetParent !== null) {
      node.click();
      return true;
    }
  }
  return false;
})(%s)"""


def click_selector(browser, selector):
    """Clicks the first visible element matching `selector`; whether there was one."""
    return bool(browser.evaluate(CLICK_SELECTOR % json.dumps(selector)))


# ---- the example runs of the dashboard test and of docs/make_screenshots.py ------------------

API_RUN, EXP_RUN = "api_run", "exp_run"
# What each run is trained with (the HParams table shows these).
EXAMPLE_RUNS = {
    API_RUN: {"optimizer": "sgd", "learning_rate": 0.05, "batch_size": 50, "hidden": (300, 100),
              "seed": 42, "log_every_steps": 50},
    EXP_RUN: {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 100, "hidden": (100,),
              "seed": 7, "log_every_steps": 100},
}


def train_example_runs(logdir, epochs=2, data=None):
    """Two real runs on Fashion-MNIST in `logdir`, from two sources: `api_run` with the
    Python API (a Trainer on `lt.load_dataset` splits, then `evaluate` on the test set)
    and `exp_run` with `lt.run_experiment` and other hyperparameters. Returns their names."""
    import lowtf as lt

    logdir = os.fspath(logdir)
    api = EXAMPLE_RUNS[API_RUN]
    data = data or lt.load_dataset("fashion_mnist", raw=True)
    trainer = lt.Trainer(lt.dnn(784, api["hidden"], 10, seed=api["seed"]),
                         optimizer=lt.optimizers.SGD(api["learning_rate"]),
                         run_dir=os.path.join(logdir, API_RUN), seed=api["seed"], verbose=0,
                         xla=False, log_every_steps=api["log_every_steps"])
    trainer.fit(data.train, data.validation, epochs=epochs, batch_size=api["batch_size"])
    trainer.evaluate(data.test)
    exp = EXAMPLE_RUNS[EXP_RUN]
    lt.run_experiment(lt.Experiment(name=EXP_RUN, hidden=exp["hidden"],
                                    optimizer=exp["optimizer"],
                                    learning_rate=exp["learning_rate"],
                                    batch_size=exp["batch_size"], epochs=epochs, patience=None,
                                    metrics=("accuracy",), seed=exp["seed"], xla=False,
                                    log_every_steps=exp["log_every_steps"],
                                    run_dir=os.path.join(logdir, EXP_RUN)), verbose=0)
    return [API_RUN, EXP_RUN]
