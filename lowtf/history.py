"""A run's history, `<run>/history.json`: one value per epoch of every logged metric.

This module is the one reader and writer of that file (`lowtf.run_dir` says where it
is). It is strict JSON: a NaN or
infinite value is written as null (`storage.write_json`) and read back as NaN. When the
file is lost or damaged, `rebuild` recovers the committed epochs from the TensorBoard
scalars the trainer writes alongside it (those are float32: timings lose digits).
"""

import json
import math
import os

from lowtf.errors import ConfigError
from lowtf.run_dir import RunDir

# Keys the trainer logs as ints; TensorBoard stores every scalar as a float.
_INT_KEYS = ("epoch", "step", "skipped_steps")


def best_values(history):
    """`{"best_val_<metric>": value}`: the best finite value of each validation metric
    over the epochs (the lowest of a loss, the highest of the others)."""
    best = {}
    for key, values in history.items():
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if key.startswith("val_") and finite:
            best[f"best_{key}"] = min(finite) if key.endswith("loss") else max(finite)
    return best


def path(run_dir):
    return RunDir(run_dir).history


def write(run_dir, history, kept=None):
    """Writes the history atomically; `kept` is the checkpoint a failed write names as safe."""
    from lowtf.storage import write_json  # imports TensorFlow: only when writing

    write_json(path(run_dir), history, "the run history", kept)


def load(run_dir):
    """`(history, None)`, or `(None, what is wrong with the file)` ("is missing", ...)."""
    try:
        with open(path(run_dir)) as f:
            history = json.load(f)
    except FileNotFoundError:
        return None, "is missing"
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    except ValueError as e:  # UnicodeDecodeError is a ValueError
        return None, f"is not JSON ({str(e)[:100]})"
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        return None, "is not a lowtf history (a JSON object of per-epoch lists)"
    return {k: [math.nan if v is None else v for v in values]
            for k, values in history.items()}, None


def read(run_dir):
    """The history as `{key: [value per epoch]}` (nulls read as NaN).

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    history, problem = load(run_dir)
    if problem:
        raise ConfigError(f"cannot read {path(run_dir)}: it {problem}")
    return history


def rebuild(run_dir, epochs, step):
    """The first `epochs` epochs of a run's history, from its TensorBoard scalars.

    The trainer writes each epoch's values to `<run>/train` and `<run>/validation` (as
    `val_<name>`) at the epoch's last step, `epoch_time` among them: the steps of the
    `epoch_time` points are the epochs' (the others are per-step points), and the keys
    with a value at each of them are the history's. Points after `step` (the restored
    checkpoint's) belong to an abandoned attempt and are left out.

    Raises:
        ConfigError: when the logs do not hold exactly `epochs` epochs up to `step`, each
            with its training loss.
    """
    from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator
    from tensorboard.util import tensor_util

    points = {}  # key -> {step: value}
    for split, prefix in (("train", ""), ("validation", "val_")):
        folder = RunDir(run_dir).split(split)
        if not os.path.isdir(folder):
            continue
        events = accumulator.EventAccumulator(folder, size_guidance={accumulator.TENSORS: 0})
        events.Reload()
        scalars = "scalars" in events.ActivePlugins()
        for tag in events.PluginTagToContent("scalars") if scalars else ():
            for event in events.Tensors(tag):
                if event.step <= step:
                    value = float(tensor_util.make_ndarray(event.tensor_proto))
                    points.setdefault(prefix + tag, {})[event.step] = value
    steps = sorted(points["epoch_time"] if "epoch_time" in points
                   else {s for values in points.values() for s in values})
    if len(steps) != epochs or not set(steps) <= set(points.get("loss", {})):
        raise ConfigError(f"the TensorBoard logs in {run_dir} do not hold the run's {epochs} "
                          f"epoch(s) up to step {step} (they hold {len(steps)}, "
                          f"{len(points.get('loss', {}))} of them with a training loss)")
    history = {key: [values[s] for s in steps] for key, values in points.items()
               if all(s in values for s in steps)}
    history.update(epoch=list(range(1, epochs + 1)), step=steps)
    return {k: [int(v) for v in values] if k in _INT_KEYS else values
            for k, values in history.items()}
