"""What every speed worker of `benchmarks/peer_speed.py` shares: its command line, the
data file, per-epoch timing, and the one JSON line it prints.

Standard library and numpy only, so that each framework's worker runs in its own
environment (JAX and PyTorch in `.venv-peers`, lowtf and Keras in lowtf's `.venv`).
"""

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

# What the driver looks for on a worker's stdout (frameworks print their own chatter).
RESULT_PREFIX = "PEER_RESULT "
# The reference 784-300-100-10 MLP: kernels are [inputs, outputs], as lowtf stores them.
WEIGHT_NAMES = ("kernel1", "bias1", "kernel2", "bias2", "kernel3", "bias3")


def parse_args(description, add_options=None, argv=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True,
                   help=".npz written by benchmarks/peer_speed.py: x (uint8 [N, 784]), y, weights")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffling")
    p.add_argument("--weights-out", help=".npz for the final weights (the driver checks the loss)")
    if add_options:
        add_options(p)
    return p.parse_args(argv)


def load(path):
    """`(x uint8 [N, 784], y int32 [N], [kernel1, bias1, ...] float32)` from the data file."""
    with np.load(path) as f:
        return f["x"], f["y"], [f[name] for name in WEIGHT_NAMES]


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


class EpochClock:
    """Wall and CPU seconds (all threads of the process) of each epoch."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.wall.append(time.perf_counter() - self._wall)
            self.cpu.append(time.process_time() - self._cpu)


def report(clock, samples_per_epoch, epoch_loss, weights=None, weights_out=None, **facts):
    """Prints the result line: samples/s over the timed epochs (all but the first), the
    mean training loss of the last epoch, and `facts` (framework, version, form ...)."""
    if weights_out and weights is not None:
        np.savez(weights_out, **{n: np.asarray(w, np.float32) for n, w in zip(WEIGHT_NAMES, weights)})
    timed, cpu = sum(clock.wall[1:]), sum(clock.cpu[1:])
    samples = samples_per_epoch * (len(clock.wall) - 1)
    result = dict(facts, samples_per_second=samples / timed, samples_per_cpu_second=samples / cpu,
                  warmup_seconds=clock.wall[0], timed_seconds=timed,
                  samples_per_epoch=samples_per_epoch, epoch_loss=float(epoch_loss),
                  threads=usable_cores(), numpy=np.__version__, python=sys.version.split()[0])
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def report_error(error, **facts):
    """The result line of a variant that could not run (e.g. torch.compile without a
    working compiler): the driver records the error and goes on."""
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    print(traceback.format_exc(), file=sys.stderr)
    print(RESULT_PREFIX + json.dumps(dict(facts, error=detail[-2000:])), flush=True)
