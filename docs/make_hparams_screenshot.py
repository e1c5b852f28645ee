"""Screenshots TensorBoard's HParams dashboard for a sweep (docs/hparams.png in the README).

    python docs/make_hparams_screenshot.py logs/lab_optimizers docs/hparams.png [--view table]

Starts `tensorboard --logdir SWEEP` on a free loopback port, opens the HParams page in
headless Chromium (`apt-get install chromium`) and saves the parallel-coordinates view
(or the table view, or the scatter-plot matrix).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from headless_chromium import Chromium  # noqa: E402

VIEWS = {"table": "TABLE VIEW", "parallel": "PARALLEL COORDINATES VIEW",
         "scatter": "SCATTER PLOT MATRIX VIEW"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep")
    parser.add_argument("output")
    parser.add_argument("--view", choices=VIEWS, default="parallel")
    parser.add_argument("--size", default="1400,820")
    parser.add_argument("--wait", nargs="*", default=[], help="words to wait for")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split(","))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    server = subprocess.Popen([tensorboard, "--logdir", args.sweep, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/data/runs", timeout=5).read()
                break
            except OSError:
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as profile, Chromium(profile, width, height) as page:
            page.open(url + "/#hparams")
            page.wait_for_text(["Trial ID", *args.wait], timeout=90)
            time.sleep(2)
            if args.view != "table":
                page.click_text(VIEWS[args.view])
                time.sleep(4)
            page.screenshot(args.output)
    finally:
        server.terminate()
        server.wait()
    print(f"Wrote {args.output} ({os.path.getsize(args.output):,} bytes)")


if __name__ == "__main__":
    main()
