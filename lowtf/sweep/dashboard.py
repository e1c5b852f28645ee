"""What a sweep shows on TensorBoard's HParams dashboard: the search space and metrics
at the sweep root (`hp.hparams_config`, rewritten only when it changes, beside
`sweep.json`), and for each trial its best and test metrics (in `<trial>/sweep`) and how
it ended (the session end, beside the session start the Trainer wrote).

TensorFlow and TensorBoard are imported inside the functions, when a sweep trains.
"""

import dataclasses
import json
import math
import os

import numpy as np

from lowtf.run_dir import (SWEEP_CONFIG_SUFFIX, TRIAL_END_SUFFIX, TRIAL_SUMMARIES, RunDir,
                           SweepDir)
from lowtf.sweep.jsonio import _jsonable
from lowtf.sweep.space import DASHBOARD_NAMES


def _metric_names(base):
    """The scalars of `<trial>/sweep` (the trial's curves are in its train/validation)."""
    test = ["test_loss"] + [f"test_{m}" for m in base.metrics]
    return ["best_val_accuracy", "best_val_loss", *test, "finished", "epochs_trained",
            "train_seconds"]


# The metrics on the HParams dashboard (a few, so parallel coordinates stay readable).
DASHBOARD_METRICS = ("best_val_accuracy", "test_accuracy", "test_loss", "finished",
                     "epochs_trained", "train_seconds")


def _hparams_config(sweep, trials):
    """The `hp.HParam`s and `hp.Metric`s of the sweep's search space."""
    from tensorboard.plugins.hparams import api as hp

    keys = [DASHBOARD_NAMES.get(k, k) for k in sweep.swept]
    if "hidden" in sweep.swept:  # the size and depth of the networks, as numbers
        keys += [k for k in ("n_params", "depth") if k not in keys]
    hparams = []
    for key in keys:
        values = [t.hparams[key] for t in trials]
        distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
        if key == "learning_rate" and all(isinstance(v, float) for v in values):
            # An interval, so a value written as float32 (0.0099999998) still passes.
            f32 = [float(np.float32(v)) for v in values]
            domain = hp.RealInterval(min(values + f32), max(values + f32))
        elif key == "n_params":
            domain = hp.IntInterval(min(values), max(values))
        else:
            if key == "layers":  # keep the given order (widths as written), not sorted
                distinct = list(dict.fromkeys(values))
            domain = hp.Discrete(distinct)
        hparams.append(hp.HParam(key, domain))
    metrics = [
        hp.Metric("accuracy", group="validation", display_name="val accuracy (final)"),
        hp.Metric("loss", group="validation", display_name="val loss (final)"),
        hp.Metric("accuracy", group="train", display_name="train accuracy (final)"),
    ] + [hp.Metric(name, group=TRIAL_SUMMARIES, display_name=name.replace("_", " "))
         for name in DASHBOARD_METRICS]
    return hparams, metrics


def _write_hparams_config(sweep, trials):
    """Writes the search space at the sweep root once (again only when it changed)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams, metrics = _hparams_config(sweep, trials)
    described = json.dumps({"hparams": [str(h) for h in hparams],
                            "metrics": [str(m.as_proto()) for m in metrics]}, sort_keys=True)
    os.makedirs(sweep.root, exist_ok=True)
    folder = SweepDir(sweep.root)
    ours = folder.hparams_config_files()
    before = folder.read_description()
    unchanged = before is not None and before.get("hparams_config") == described and ours
    if not unchanged:
        for path in ours:
            os.remove(path)
        writer = tf.summary.create_file_writer(sweep.root, filename_suffix=SWEEP_CONFIG_SUFFIX)
        with writer.as_default():
            hp.hparams_config(hparams=hparams, metrics=metrics)
        writer.close()
    info = {"name": sweep.name, "description": sweep.description,
            "base": _jsonable(sweep.base.as_record()),
            "grid": _jsonable(sweep.grid), "random": _jsonable(
                {k: (dataclasses.asdict(v) | {"kind": type(v).__name__})
                 if dataclasses.is_dataclass(v) else v for k, v in sweep.random.items()}),
            "n_trials": sweep.n_trials, "configs": _jsonable(sweep.configs),
            "seed": sweep.seed, "rank_by": sweep.rank_by,
            "trials": [t.id for t in trials], "hparams_config": described}
    folder.write_description(info)


def _write_trial_summaries(trial, row):
    """The trial's final/best metrics (in `<trial>/sweep`) and its end status (at the
    trial's root, beside the session start the Trainer wrote)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_summary

    step = int(row.get("step") or 0)
    writer = tf.summary.create_file_writer(RunDir(trial.run_dir).trial_summaries)
    with writer.as_default(step=step):
        for name in _metric_names(trial.experiment):
            if name == "finished":
                value = 1.0 if row["status"] == "finished" else 0.0
            else:
                value = row.get("epochs" if name == "epochs_trained" else name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                tf.summary.scalar(name, float(value))
    writer.close()
    writer = tf.summary.create_file_writer(trial.run_dir, filename_suffix=TRIAL_END_SUFFIX)
    with writer.as_default(step=step):
        status = api_pb2.STATUS_SUCCESS if row["status"] == "finished" else api_pb2.STATUS_FAILURE
        tf.summary.experimental.write_raw_pb(
            hp_summary.session_end_pb(status).SerializeToString(), step=step)
    writer.close()
