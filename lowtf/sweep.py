"""Sweeps: one experiment run many times over a grid or a random sample of its settings.

    import lowtf as lt
    sweep = lt.Sweep("lr", base=lt.Experiment(epochs=5, patience=None),
                     grid={"learning_rate": [0.003, 0.01, 0.03]})
    result = lt.run_sweep(sweep)        # trials in logs/lr/<trial>/, ranked in logs/lr/results.csv
    result.best["checkpoint"]           # the best trial's best checkpoint

Each trial is an ordinary run (`run_experiment`) in `logs/<sweep>/<trial>`, named after
the values it tries (`lr=0.01`, `h=300-100,opt=adam`). For TensorBoard's HParams
dashboard the sweep root holds the search space and the metrics (`hp.hparams_config`),
each trial its values (written by the Trainer at the trial's root, with the session
status: success or failure), and in `<trial>/sweep` its best and test metrics and whether
it finished (`finished` 1/0); the final train/validation values come from the trial's
curves. `tensorboard --logdir logs/<sweep>` then shows the table, parallel-coordinates
and scatter views.

A sweep resumes: finished trials are skipped, an interrupted one continues from its
latest checkpoint (the Trainer resumes it), a failed one is kept as failed unless
`retry_failed=True`. Trials run one after another, or in `parallel` processes.
"""

import csv
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import re
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from lowtf import history as run_history
from lowtf.activations import ACTIVATIONS
from lowtf.errors import ConfigError
from lowtf.experiment import Experiment, count_params, load_module, run_experiment
from lowtf.optimizers import OPTIMIZERS, check_learning_rate
from lowtf.storage import write_json

# Experiment fields a sweep may vary, the short name used in trial ids, and aliases.
PARAMS = {
    "hidden": "h", "activation": "act", "optimizer": "opt", "learning_rate": "lr",
    "batch_size": "bs", "epochs": "ep", "patience": "pat", "seed": "seed",
    "monitor": "mon", "dataset": "data",
}
ALIASES = {"layers": "hidden", "units": "hidden", "lr": "learning_rate",
           "batch": "batch_size", "act": "activation", "opt": "optimizer",
           "h": "hidden", "bs": "batch_size", "ep": "epochs", "pat": "patience"}
# How a parameter is called on the HParams dashboard (the Trainer's hparams keys).
DASHBOARD_NAMES = {"hidden": "layers"}
RANK_BY = {  # ranking name -> (row key, higher is better)
    "val_accuracy": ("best_val_accuracy", True),
    "val_loss": ("best_val_loss", False),
    "test_accuracy": ("test_accuracy", True),
    "test_loss": ("test_loss", False),
}
TRIAL_FILE = "sweep_trial.json"
CONFIG_SUFFIX = ".sweep-config"
SUMMARY_SUFFIX = ".sweep-trial"
SUMMARY_GROUP = "sweep"  # <trial>/sweep: best/final/test metrics and `finished`


# ---- search spaces ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Values drawn log-uniformly from `[low, high]` (rounded to 3 significant digits,
    or to an int with `integer=True`), e.g. `LogUniform(1e-4, 1e-1)` for learning rates."""

    low: float
    high: float
    integer: bool = False

    def __post_init__(self):
        if not 0 < self.low <= self.high:
            raise ConfigError(f"LogUniform needs 0 < low <= high, got {self.low}, {self.high}")

    def sample(self, rng):
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return int(round(value)) if self.integer else float(f"{value:.3g}")


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Values drawn uniformly from `[low, high]` (3 significant digits, or ints)."""

    low: float
    high: float
    integer: bool = False

    def __post_init__(self):
        if not self.low <= self.high:
            raise ConfigError(f"Uniform needs low <= high, got {self.low}, {self.high}")

    def sample(self, rng):
        if self.integer:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(f"{rng.uniform(self.low, self.high):.3g}")


def _canonical(name):
    key = ALIASES.get(name, name)
    if key not in PARAMS:
        raise ConfigError(f"cannot sweep {name!r}; sweepable: {', '.join(PARAMS)} "
                          f"(aliases {', '.join(sorted(ALIASES))})")
    return key


def _as_hidden(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        # One separator between sizes: `300--100` or `300,,100` is a typo, not 300-100.
        parts = re.split(r"\s*[-,/]\s*|(?<=\d)x(?=\d)|\s+", text)
        if "" in parts:
            raise ConfigError(f"hidden layers {value!r} have an empty item; write sizes "
                              "like 300-100")
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"hidden layers must look like 300-100, got {value!r}") from None
    try:
        return tuple(int(u) for u in value)
    except (TypeError, ValueError):
        raise ConfigError(f"hidden layers must be ints such as (300, 100), got {value!r}") from None


def normalize(param, value):
    """A swept value in the form the Experiment takes (checked)."""
    if param == "hidden":
        return _as_hidden(value)
    if param == "activation":
        key = str(value).lower().replace("-", "_")
        if key not in ACTIVATIONS or key == "softmax":
            raise ConfigError(f"unknown activation {value!r}; use one of "
                              f"{sorted(k for k in ACTIVATIONS if k != 'softmax')}")
        return key
    if param == "optimizer":
        key = str(value).lower()
        if key not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {value!r}; use one of {', '.join(OPTIMIZERS)}")
        return key
    if param == "learning_rate":
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"learning_rate must be a number, got {value!r}") from None
        return check_learning_rate(value, "sweep")
    if param == "patience":
        if value is None or str(value).lower() in ("none", "0", "off"):
            return None
    if param in ("batch_size", "epochs", "patience", "seed"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{param} must be an int, got {value!r}") from None
        if isinstance(value, float) and value != number:
            raise ConfigError(f"{param} must be an int, got {value!r}")
        return number
    return str(value)


def _format(value):
    if isinstance(value, tuple):
        return "-".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def trial_name(params):
    """The folder name of a trial: `h=300-100,lr=0.01` (safe on any file system)."""
    if not params:
        return "base"
    name = ",".join(f"{PARAMS[k]}={_format(v)}" for k, v in params.items())
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One run of a sweep: its id (folder name), the values it tries and its Experiment."""

    id: str
    params: dict
    experiment: Experiment
    hparams: dict

    @property
    def run_dir(self):
        return self.experiment.run_dir


class Sweep:
    """A named set of trials: `base` with parameters set from a grid and/or a random sample.

    Args:
        name: the folder under `logdir` holding the trials.
        base: the `Experiment` every trial starts from (default: the reference run).
        grid: `{param: [values]}`; every combination is a trial.
        random: `{param: [values] | LogUniform(...) | Uniform(...)}`; `n_trials` draws
            (lists are sampled uniformly), combined with every grid point.
        n_trials: number of random draws (required with `random`).
        configs: a list of `{param: value}` dicts, each a trial on its own (combined with
            the grid and the random draws); for settings that go together, such as an
            optimizer with its own learning rate.
        seed: seeds the random draws (the same seed gives the same trials, so a random
            sweep resumes too).
        logdir: where sweeps go (default `logs`).
        rank_by: `val_accuracy` (best validation accuracy, the default), `val_loss`,
            `test_accuracy` or `test_loss`.

    Parameters: hidden (alias layers), activation, optimizer, learning_rate (lr),
    batch_size, epochs, patience, seed, monitor, dataset.
    """

    def __init__(self, name, base=None, grid=None, random=None, n_trials=None, configs=None,
                 seed=0, logdir="logs", rank_by="val_accuracy", description=""):
        if not name or "/" in str(name) or str(name) in (".", ".."):
            raise ConfigError(f"a sweep name must be a folder name, got {name!r}")
        self.name = str(name)
        self.base = base if base is not None else Experiment()
        if not isinstance(self.base, Experiment):
            raise ConfigError(f"base must be a lowtf.Experiment, got {type(self.base).__name__}")
        self.grid = {_canonical(k): [normalize(_canonical(k), v) for v in _as_list(k, vs)]
                     for k, vs in (grid or {}).items()}
        self.random = {}
        for k, space in (random or {}).items():
            key = _canonical(k)
            if isinstance(space, (LogUniform, Uniform)):
                if key in ("hidden",) and not space.integer:
                    raise ConfigError("a random hidden layer width needs integer=True")
                self.random[key] = space
            else:
                self.random[key] = [normalize(key, v) for v in _as_list(k, space)]
        if self.random and (not isinstance(n_trials, int) or n_trials < 1):
            raise ConfigError("a random search needs n_trials >= 1 (--trials N)")
        self.n_trials = n_trials if self.random else None
        self.configs = [{_canonical(k): normalize(_canonical(k), v) for k, v in c.items()}
                        for c in (configs or [])]
        overlap = set(self.grid) & set(self.random)
        if overlap:
            raise ConfigError(f"{sorted(overlap)} given both as a grid and a random search")
        self.seed, self.logdir, self.description = int(seed), os.fspath(logdir), description
        if rank_by not in RANK_BY:
            raise ConfigError(f"rank_by must be one of {', '.join(RANK_BY)}, got {rank_by!r}")
        self.rank_by = rank_by
        self._trials = None
        self.trials()  # validates every combination now

    def __repr__(self):
        return (f"Sweep({self.name!r}, {len(self.trials())} trials over "
                f"{', '.join(self.swept) or 'nothing'}, in {self.root})")

    @property
    def root(self):
        return os.path.join(self.logdir, self.name)

    @property
    def swept(self):
        """The swept parameters, in the order they were given."""
        keys = []
        for config in self.configs:
            keys += [k for k in config if k not in keys]
        keys += [k for k in self.grid if k not in keys]
        keys += [k for k in self.random if k not in keys]
        return keys

    def replace(self, base=None, **changes):
        """A copy with other arguments (and `base` fields via `base={...}`)."""
        args = dict(name=self.name, base=self.base, grid=self.grid, random=self.random,
                    n_trials=self.n_trials, configs=self.configs, seed=self.seed,
                    logdir=self.logdir, rank_by=self.rank_by, description=self.description)
        args.update(changes)
        if base:
            args["base"] = args["base"].replace(**base) if isinstance(base, dict) else base
        return Sweep(**args)

    def _draws(self):
        if not self.random:
            return [{}]
        rng = np.random.default_rng(self.seed)
        draws, seen = [], set()
        for _ in range(self.n_trials * 50):
            draw = {}
            for key, space in self.random.items():
                value = space.sample(rng) if hasattr(space, "sample") \
                    else space[int(rng.integers(len(space)))]
                draw[key] = normalize(key, value)
            token = json.dumps({k: _format(v) for k, v in draw.items()}, sort_keys=True)
            if token not in seen:
                seen.add(token)
                draws.append(draw)
            if len(draws) == self.n_trials:
                break
        return draws

    def trials(self):
        """The trials, in a fixed order (the same on every call and every resume)."""
        if self._trials is not None:
            return self._trials
        grid_keys = list(self.grid)
        grid_points = [dict(zip(grid_keys, combo))
                       for combo in itertools.product(*(self.grid[k] for k in grid_keys))]
        order = self.swept
        trials, ids = [], set()
        for config in self.configs or [{}]:
            for point in grid_points:
                for draw in self._draws():
                    merged = {**config, **point, **draw}
                    params = {k: merged[k] for k in order if k in merged}
                    trial_id = trial_name(params)
                    if trial_id in ids:
                        continue
                    ids.add(trial_id)
                    trials.append(self._trial(trial_id, params))
        self._trials = trials
        return trials

    def _trial(self, trial_id, params):
        fields = {k: v for k, v in params.items()}
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{self.name}-{trial_id}")
        try:
            experiment = dataclasses.replace(
                self.base, name=name, run_dir=os.path.join(self.root, trial_id), **fields)
        except ConfigError as e:
            raise ConfigError(f"trial {trial_id} of sweep {self.name}: {e}") from None
        return Trial(trial_id, params, experiment, self._trial_hparams(experiment))

    def _trial_hparams(self, e):
        """The trial's values for the HParams dashboard, keyed like the Trainer's own."""
        values = {"optimizer": e.optimizer, "learning_rate": float(e.learning_rate),
                  "batch_size": e.batch_size, "epochs": e.epochs,
                  "layers": "-".join(str(u) for u in e.hidden) or "none",
                  "activation": e.activation, "seed": e.seed,
                  "depth": len(e.hidden), "n_params": count_params(e.hidden),
                  "sweep": self.name}
        for key in self.swept:
            if key not in ("hidden",) and DASHBOARD_NAMES.get(key, key) not in values:
                value = getattr(e, key)
                values[key] = (0 if key == "patience" else "none") if value is None else value
        return values


def _as_list(name, values):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"the values of {name!r} must be a list, got {values!r}")
    values = list(values)
    if not values:
        raise ConfigError(f"no values given for {name!r}")
    return values


# ---- loading sweeps from experiments/ ----------------------------------------------------

def load_target(spec=None):
    """`(sweep, experiment)` defined by a name in `experiments/`, a .py file or a module:
    `sweep` is its `sweep = lowtf.Sweep(...)` (or None), `experiment` its `experiment`
    (or the sweep's base, or the reference experiment for `spec=None`)."""
    if not spec:
        return None, Experiment()
    module = load_module(spec, prefix="lowtf_sweep")
    sweep = getattr(module, "sweep", None)
    experiment = getattr(module, "experiment", None)
    if sweep is not None and not isinstance(sweep, Sweep):
        raise ConfigError(f"{spec!r} defines `sweep` but it is not a lowtf.Sweep")
    if experiment is not None and not isinstance(experiment, Experiment):
        experiment = None
    if sweep is None and experiment is None:
        raise ConfigError(f"{spec!r} must define `sweep = lowtf.Sweep(...)` or "
                          "`experiment = lowtf.Experiment(...)`")
    return sweep, experiment if experiment is not None else sweep.base


def load_sweep(spec):
    """The `sweep = lowtf.Sweep(...)` of a name in `experiments/`, a .py file or a module."""
    sweep, _ = load_target(spec)
    if sweep is None:
        raise ConfigError(f"{spec!r} defines no `sweep = lowtf.Sweep(...)`")
    return sweep


# ---- TensorBoard HParams -------------------------------------------------------------------

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
        if key == "learning_rate":
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
    ] + [hp.Metric(name, group=SUMMARY_GROUP, display_name=name.replace("_", " "))
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
    info_path = os.path.join(sweep.root, "sweep.json")
    ours = [f for f in os.listdir(sweep.root) if f.endswith(CONFIG_SUFFIX)]
    try:
        with open(info_path) as f:
            unchanged = json.load(f).get("hparams_config") == described and ours
    except (OSError, ValueError):
        unchanged = False
    if not unchanged:
        for name in ours:
            os.remove(os.path.join(sweep.root, name))
        writer = tf.summary.create_file_writer(sweep.root, filename_suffix=CONFIG_SUFFIX)
        with writer.as_default():
            hp.hparams_config(hparams=hparams, metrics=metrics)
        writer.close()
    info = {"name": sweep.name, "description": sweep.description,
            "base": _jsonable(dataclasses.asdict(sweep.base)),
            "grid": _jsonable(sweep.grid), "random": _jsonable(
                {k: (dataclasses.asdict(v) | {"kind": type(v).__name__})
                 if dataclasses.is_dataclass(v) else v for k, v in sweep.random.items()}),
            "n_trials": sweep.n_trials, "configs": _jsonable(sweep.configs),
            "seed": sweep.seed, "rank_by": sweep.rank_by,
            "trials": [t.id for t in trials], "hparams_config": described}
    write_json(info_path, info, "the sweep description", indent=2)


def _write_trial_summaries(trial, row):
    """The trial's final/best metrics (in `<trial>/sweep`) and its end status (at the
    trial's root, beside the session start the Trainer wrote)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_summary

    step = int(row.get("step") or 0)
    writer = tf.summary.create_file_writer(os.path.join(trial.run_dir, SUMMARY_GROUP))
    with writer.as_default(step=step):
        for name in _metric_names(trial.experiment):
            if name == "finished":
                value = 1.0 if row["status"] == "finished" else 0.0
            else:
                value = row.get("epochs" if name == "epochs_trained" else name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                tf.summary.scalar(name, float(value))
    writer.close()
    writer = tf.summary.create_file_writer(trial.run_dir, filename_suffix=SUMMARY_SUFFIX)
    with writer.as_default(step=step):
        status = api_pb2.STATUS_SUCCESS if row["status"] == "finished" else api_pb2.STATUS_FAILURE
        tf.summary.experimental.write_raw_pb(
            hp_summary.session_end_pb(status).SerializeToString(), step=step)
    writer.close()


# ---- running trials --------------------------------------------------------------------------

def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple)
                                 else str(v)))


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# Experiment fields that do not change what a trial learns.
_COMPARED_AWAY = ("name", "run_dir", "data_dir", "xla", "resident", "image_summaries")


def _changed_settings(trial, results):
    """What differs between the trial and the experiment its results.json records.

    A field the record does not have (added to `Experiment` since) counts only when the
    trial sets it to something other than its default.
    """
    stored = (results or {}).get("experiment") or {}
    now = _jsonable(dataclasses.asdict(trial.experiment))
    defaults = _jsonable({f.name: f.default for f in dataclasses.fields(Experiment)})
    return {k: (stored.get(k), now[k]) for k in now
            if k not in _COMPARED_AWAY and stored.get(k, defaults.get(k)) != now[k]}


def _first_line(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text.split('; ')[0]}"


def run_trial(trial, verbose=0):
    """Trains one trial (resuming it if it was interrupted) and records how it ended.

    Errors other than an interrupt are caught: the trial is recorded as failed (with the
    traceback in `<trial>/error.txt`) so the rest of the sweep goes on.
    """
    os.makedirs(trial.run_dir, exist_ok=True)
    start = time.perf_counter()
    try:
        run_experiment(trial.experiment, verbose=verbose, hparams=trial.hparams,
                       trial_id=trial.id)
        status = {"status": "finished"}
    except Exception as e:  # noqa: BLE001 - one failed trial must not end the sweep
        with open(os.path.join(trial.run_dir, "error.txt"), "w") as f:
            f.write(traceback.format_exc())
        status = {"status": "failed", "error": _first_line(e)}
    status["seconds"] = time.perf_counter() - start
    row = trial_row(trial, status)
    _write_trial_summaries(trial, row)
    write_json(os.path.join(trial.run_dir, TRIAL_FILE), status, "the trial status", indent=2)
    return row


def trial_row(trial, status=None):
    """What a trial's folder says about it: status, metrics, checkpoint (one table row)."""
    status = status or _read_json(os.path.join(trial.run_dir, TRIAL_FILE)) or {}
    results = _read_json(os.path.join(trial.run_dir, "results.json"))
    history = run_history.load(trial.run_dir)[0] or {}
    row = {"trial": trial.id,
           **{DASHBOARD_NAMES.get(k, k): _format(v) if isinstance(v, tuple) else v
              for k, v in trial.params.items()}}
    if status.get("status") == "failed":
        row["status"] = "failed"
    elif results is not None and status.get("status") == "finished":
        row["status"] = "finished"
    elif results is not None:
        row["status"] = "finished"  # trained; its sweep summaries are not written yet
    elif os.path.isdir(os.path.join(trial.run_dir, "checkpoints")) and history:
        row["status"] = "interrupted"
    else:
        row["status"] = "pending"
    val_acc = [v for v in history.get("val_accuracy", []) if v == v]
    val_loss = [v for v in history.get("val_loss", []) if v == v]
    row.update(
        epochs=len(history.get("loss", [])),
        step=(history.get("step") or [0])[-1],
        best_val_accuracy=max(val_acc) if val_acc else None,
        best_val_loss=min(val_loss) if val_loss else None,
        final_val_accuracy=val_acc[-1] if val_acc else None,
        n_params=trial.hparams["n_params"])
    if results is not None:
        for key, value in results.get("test", {}).items():
            row[f"test_{key}"] = value
        row.update(train_seconds=results.get("train_seconds"),
                   examples_per_second=results.get("examples_per_second_median"),
                   checkpoint=results.get("checkpoint"))
    row["run_dir"] = trial.run_dir
    if status.get("error"):
        row["error"] = status["error"]
    return row


def _init_worker(threads):
    import tensorflow as tf  # quietly: importing lowtf armed lowtf.tf_chatter

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process
        pass


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _describe(row):
    if row["status"] == "failed":
        return f"failed: {row.get('error', '?')}"
    parts = []
    if row.get("best_val_accuracy") is not None:
        parts.append(f"best val acc {row['best_val_accuracy']:.4f}")
    if row.get("test_accuracy") is not None:
        parts.append(f"test acc {row['test_accuracy']:.4f}")
    parts.append(f"{row['epochs']} epochs")
    if row.get("train_seconds") is not None:
        parts.append(f"{row['train_seconds']:.0f}s")
    return ", ".join(parts)


def run_sweep(sweep, parallel=1, verbose=1, retry_failed=False, train=True):
    """Runs the sweep's trials that are not finished and returns the ranked results.

    Args:
        sweep: a `Sweep`.
        parallel: trials trained at once, each in its own process (capped at the CPU
            cores available; the cores are shared out among them).
        verbose: 0 silent, 1 a line per trial and the final table, 2 also each trial's
            training log (one trial at a time only).
        retry_failed: run trials again that failed before (e.g. after a fix).
        train: False only reports what is on disk.

    Returns:
        A `SweepResult`; also written to `<root>/results.csv` and `<root>/results.json`.
    """
    trials = sweep.trials()
    if train:
        _write_hparams_config(sweep, trials)
    say = print if verbose else (lambda *a, **k: None)
    pending = []
    for i, trial in enumerate(trials, 1):
        row = trial_row(trial)
        status = row["status"]
        tag = f"[{i}/{len(trials)}] {trial.id}"
        if status == "finished":
            changed = _changed_settings(trial, _read_json(os.path.join(trial.run_dir,
                                                                        "results.json")))
            if changed:
                say(f"{tag}: settings changed since it ran ("
                    + "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
                    + "); continuing it")
                pending.append((i, trial))
            elif not os.path.exists(os.path.join(trial.run_dir, TRIAL_FILE)) and train:
                row = run_trial_summaries_only(trial)
                say(f"{tag}: already trained; {_describe(row)}")
            else:
                say(f"{tag}: already finished; {_describe(row)}")
        elif status == "failed" and not retry_failed:
            say(f"{tag}: failed before ({row.get('error', '?')}); retry with retry_failed=True "
                "(--retry-failed)")
        else:
            pending.append((i, trial))
    if train and pending:
        cores = available_cores()
        workers = max(1, min(int(parallel), cores, len(pending)))
        if parallel > workers and parallel > cores:
            say(f"{sweep.name}: {parallel} parallel trials requested but {cores} cores "
                f"available; running {workers} at a time")
        if workers == 1:
            for i, trial in pending:
                resuming = trial_row(trial)["status"] in ("interrupted", "finished")
                say(f"[{i}/{len(trials)}] {trial.id}: "
                    f"{'resuming from its checkpoint' if resuming else 'training'}", flush=True)
                row = run_trial(trial, verbose=1 if verbose >= 2 else 0)
                say(f"[{i}/{len(trials)}] {trial.id}: {_describe(row)}", flush=True)
        else:
            _run_parallel(sweep, trials, pending, workers, cores, say)
    result = SweepResult(sweep, [trial_row(t) for t in trials])
    if train or os.path.isdir(sweep.root):
        result.save()
    if verbose:
        print(result.report(), flush=True)
    return result


def run_trial_summaries_only(trial):
    """For a trial trained but not yet summarised (the sweep stopped in between)."""
    status = {"status": "finished"}
    row = trial_row(trial, status)
    _write_trial_summaries(trial, row)
    write_json(os.path.join(trial.run_dir, TRIAL_FILE), status, "the trial status", indent=2)
    return row


def _run_parallel(sweep, trials, pending, workers, cores, say):
    threads = max(1, cores // workers)
    say(f"{sweep.name}: {len(pending)} trials, {workers} at a time in separate processes "
        f"({threads} TensorFlow thread{'s' if threads > 1 else ''} each)", flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_trial, trial, 0): (i, trial) for i, trial in pending}
        try:
            for future in as_completed(futures):
                i, trial = futures[future]
                row = future.result()
                say(f"[{i}/{len(trials)}] {trial.id}: {_describe(row)}", flush=True)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# ---- results -----------------------------------------------------------------------------------

class SweepResult:
    """The trials of a sweep, best first by `sweep.rank_by` (unfinished trials last).

    Attributes:
        rows: one dict per trial: `rank`, `trial`, the swept values, `status`, `epochs`,
            `best_val_accuracy`, `test_accuracy`, `test_loss`, `checkpoint`, `run_dir`, ...
        best: the first finished row, or None.
    """

    def __init__(self, sweep, rows):
        self.sweep = sweep
        key, higher = RANK_BY[sweep.rank_by]

        def order(row):
            value = row.get(key)
            done = row["status"] == "finished" and isinstance(value, (int, float)) \
                and math.isfinite(value)
            return (0, -value if higher else value) if done else (1, 0)

        self.rows = sorted(rows, key=order)
        for rank, row in enumerate(self.rows, 1):
            row["rank"] = rank
        finished = [r for r in self.rows if r["status"] == "finished"]
        self.best = finished[0] if finished else None

    @property
    def csv_path(self):
        return os.path.join(self.sweep.root, "results.csv")

    @property
    def json_path(self):
        return os.path.join(self.sweep.root, "results.json")

    def columns(self):
        swept = [DASHBOARD_NAMES.get(k, k) for k in self.sweep.swept]
        tests = sorted({k for r in self.rows for k in r if k.startswith("test_")} -
                       {"test_accuracy", "test_loss"})
        return (["rank", "trial", *swept, "status", "epochs", "best_val_accuracy",
                 "final_val_accuracy", "test_accuracy", "test_loss", *tests, "n_params",
                 "train_seconds", "examples_per_second", "checkpoint", "run_dir", "error"])

    def save(self):
        os.makedirs(self.sweep.root, exist_ok=True)
        columns = self.columns()
        tmp = self.csv_path + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
        os.replace(tmp, self.csv_path)
        write_json(self.json_path, {"sweep": self.sweep.name, "rank_by": self.sweep.rank_by,
                                    "best": self.best, "trials": self.rows},
                   "the sweep results", indent=2)

    def table(self, max_rows=None):
        """The ranked trials as a text table."""
        swept = [DASHBOARD_NAMES.get(k, k) for k in self.sweep.swept]
        header = ["rank", "trial", "best val acc", "test acc", "test loss", "epochs",
                  "seconds", "status"]
        lines = []
        for row in self.rows[:max_rows]:
            def fmt(key, spec=".4f", row=row):
                value = row.get(key)
                return format(value, spec) if isinstance(value, (int, float)) else ""

            status = row["status"] if row["status"] != "failed" else \
                f"failed ({row.get('error', '?')})"
            lines.append([str(row["rank"]), row["trial"], fmt("best_val_accuracy"),
                          fmt("test_accuracy"), fmt("test_loss"), str(row["epochs"]),
                          fmt("train_seconds", ".0f"), status])
        widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
        text = lambda r: "  ".join(  # noqa: E731
            c.rjust(w) if i not in (1, len(header) - 1) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        title = f"Sweep {self.sweep.name}: {len(self.rows)} trials over " \
                f"{', '.join(swept) or 'nothing'}, ranked by {self.sweep.rank_by}"
        return "\n".join([title, text(header), "-" * len(text(header)),
                          *(text(r) for r in lines)])

    def report(self):
        lines = [self.table()]
        if self.best:
            b = self.best
            lines += [f"Best trial: {b['trial']} (best val accuracy "
                      f"{b.get('best_val_accuracy') or float('nan'):.4f}, test accuracy "
                      f"{b.get('test_accuracy') or float('nan'):.4f})",
                      f"  run:        {b['run_dir']}",
                      f"  checkpoint: {b.get('checkpoint')}",
                      f"  evaluate:   lowtf evaluate '{b['run_dir']}'"]
        else:
            lines.append("No trial has finished yet.")
        lines.append(f"Table: {self.csv_path}   "
                     f"Dashboard: tensorboard --logdir {self.sweep.root}")
        return "\n".join(lines)


def read_results(root):
    """The ranked rows a sweep wrote to `<root>/results.json` (a list of dicts)."""
    data = _read_json(os.path.join(os.fspath(root), "results.json"))
    if data is None:
        raise ConfigError(f"no sweep results in {root!r} (results.json); run the sweep first")
    return data["trials"]
