"""Screenshots of TensorBoard's Scalars, Images and HParams tabs for the README.

    python docs/make_screenshots.py                   # trains two real runs, then the PNGs
    python docs/make_screenshots.py --logdir logs/x   # the tabs of runs you already have
    python docs/make_screenshots.py --sweep logs/lab_optimizers docs/hparams.png [--view table]

By default it trains two runs on the real Fashion-MNIST into a fresh `logs/screenshots`
(`api_run` with the Python API, `exp_run` with `lt.run_experiment` and other
hyperparameters: a few seconds each, as in tests/test_dashboard_browser.py), starts
`tensorboard --logdir` on a free loopback port, opens each tab in headless Chromium
(`apt-get install chromium`) and writes docs/tensorboard_scalars.png (the loss and
accuracy cards of the time series, per-step curves), docs/tensorboard_images.png (the
confusion matrices and samples) and docs/tensorboard_hparams.png (the table view, one row
per run). `--sweep SWEEP OUTPUT` is the README's sweep picture (docs/hparams.png, formerly
docs/make_hparams_screenshot.py): the HParams tab of a sweep in the parallel-coordinates
view (or the table view, or the scatter-plot matrix).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from headless_chromium import ELEMENTS  # noqa: E402
from tensorboard_pages import (HPARAMS_VIEWS, Chromium, click_selector, get_json,  # noqa: E402
                               hparams_columns, hparams_table, open_categories, serve, show,
                               train_example_runs)

# The columns of the HParams picture, in the order of preference (those present are shown).
HPARAMS_SHOWN = ("optimizer", "learning_rate", "batch_size", "layers")
METRICS_SHOWN = ("summary.best_val_accuracy", "summary.finished", "validation.accuracy")
MAX_METRICS = 2
COLUMN_WIDTH = "8em"  # instead of 10em, so that all the columns shown fit in 1400 pixels

# Narrows the HParams table's hyperparameter and metric columns (as dragging their edges
# would); the Trial ID column keeps its width.
NARROW_COLUMNS = """((width) => {
""" + ELEMENTS + """  for (const node of elements()) {
    if (node.nodeName === 'VAADIN-GRID' && node.classList.contains('session-group-table')) {
      const columns = Array.from(node.querySelectorAll('vaadin-grid-column'));
      columns.slice(1).forEach(c => { if (c.width === '10em') c.width = width; });
      return columns.length;
    }
  }
  return 0;
})(%s)"""


def regex(*tags):
    return "^(" + "|".join(tags) + ")$"


def scalars_picture(browser, url, path, settle):
    """The time series, filtered to the loss, accuracy and gradient norm cards, the
    settings pane closed."""
    query = "tagFilter=" + urllib.parse.quote(regex("loss", "accuracy", "gradient_norm"))
    show(browser, url, "timeseries", ["loss", "accuracy", "Run"], query=query, settle=settle)
    if click_selector(browser, 'button[aria-label="Close side pane"]'):
        time.sleep(settle)  # the cards widen
    browser.screenshot(path)


def images_picture(browser, url, path, settle):
    """The Images tab: the confusion matrices, then the samples, of one run (the first
    with images: its validation and test splits)."""
    with_images = sorted({run.split("/")[0] for run in get_json(url, "/data/plugin/images/tags")})
    tab = "/#images&tagFilter=" + urllib.parse.quote(regex("confusion_matrix", "samples"))
    if with_images:
        tab += "&regexInput=" + urllib.parse.quote("^" + with_images[0] + "/")
    show(browser, url, tab, ["confusion_matrix"], settle=settle)
    open_categories(browser)
    time.sleep(settle)
    browser.screenshot(path)


def hparams_picture(browser, url, path, settle):
    """The HParams table view with the columns that tell the runs apart."""
    show(browser, url, "hparams", ["Trial ID"], settle=settle)
    names = hparams_columns(browser, ())  # what the query pane offers
    metrics = [m for m in METRICS_SHOWN if m in names][:MAX_METRICS]
    hparams_columns(browser, [h for h in HPARAMS_SHOWN if h in names] + metrics)
    time.sleep(settle)
    browser.evaluate(NARROW_COLUMNS % json.dumps(COLUMN_WIDTH))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        table = hparams_table(browser)
        if table and table["rows"]:
            break
        time.sleep(0.5)
    time.sleep(settle)
    browser.screenshot(path)


PICTURES = {"scalars": scalars_picture, "images": images_picture, "hparams": hparams_picture}


def tabs(logdir, out, width, height, which, settle):
    runs = [name for name in sorted(os.listdir(logdir))
            if os.path.isdir(os.path.join(logdir, name, "train"))]
    if not runs:
        sys.exit(f"{logdir}: no runs (folders with a train/ split)")
    written = []
    with serve(logdir, runs=[f"{run}/train" for run in runs]) as url, \
            tempfile.TemporaryDirectory() as profile, \
            Chromium(profile, width, height) as browser:
        for tab in which:
            path = os.path.join(out, f"tensorboard_{tab}.png")
            PICTURES[tab](browser, url, path, settle)
            written.append(path)
    return written


def sweep_picture(sweep, output, view, width, height, wait):
    with serve(sweep) as url, tempfile.TemporaryDirectory() as profile, \
            Chromium(profile, width, height) as browser:
        show(browser, url, "hparams", ["Trial ID", *wait], settle=2)
        if view != "table":
            browser.click_text(HPARAMS_VIEWS[view])
            time.sleep(4)
        browser.screenshot(output)
    return [output]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="screenshot these runs instead of training new ones "
                        "into logs/screenshots")
    parser.add_argument("--out", default=HERE, help="folder of the PNGs (default: docs/)")
    parser.add_argument("--tabs", nargs="+", choices=PICTURES, default=list(PICTURES))
    parser.add_argument("--epochs", type=int, default=2, help="of the runs it trains")
    parser.add_argument("--sweep", nargs=2, metavar=("SWEEP", "OUTPUT"),
                        help="the HParams tab of a sweep folder into OUTPUT")
    parser.add_argument("--view", choices=HPARAMS_VIEWS, default="parallel",
                        help="with --sweep: which HParams view")
    parser.add_argument("--wait", nargs="*", default=[],
                        help="with --sweep: words to wait for")
    parser.add_argument("--size", default="1400,820")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds for the charts to draw")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split(","))
    if args.sweep:
        written = sweep_picture(*args.sweep, args.view, width, height, args.wait)
    else:
        logdir = args.logdir
        if logdir is None:
            logdir = os.path.join(REPO, "logs", "screenshots")
            shutil.rmtree(logdir, ignore_errors=True)  # fresh runs, not resumed ones
            print(f"Training the example runs into {logdir} ...", flush=True)
            train_example_runs(logdir, epochs=args.epochs)
        os.makedirs(args.out, exist_ok=True)
        written = tabs(logdir, args.out, width, height, args.tabs, args.settle)
    for path in written:
        print(f"Wrote {path} ({os.path.getsize(path):,} bytes)")


if __name__ == "__main__":
    main()
