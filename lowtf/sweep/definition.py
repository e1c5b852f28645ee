"""A sweep's definition: `Sweep` (a base `Experiment` and the values to try) expands
into its `Trial`s, in a fixed order so a sweep resumes; `load_target` and `load_sweep`
find a sweep in `experiments/`, a .py file or a module.
"""

import dataclasses
import inspect
import itertools
import json
import os
import re

import numpy as np

from lowtf.errors import ConfigError
from lowtf.experiment import Experiment, count_params, load_module
from lowtf.optimizers import schedules
from lowtf.run_dir import SweepDir
from lowtf.sweep.results import check_rank_by
from lowtf.sweep.space import (DASHBOARD_NAMES, LogUniform, NamedSchedule, Uniform, _as_list,
                               _canonical, _format, dashboard_value, normalize, safe_name,
                               split_dotted, trial_name)


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
        rank_by: `val_accuracy` (best validation accuracy, the default) or `val_loss`
            (best validation loss). Not a test figure: that would choose on the test set
            (a ConfigError); the chosen trial's test figures are
            `SweepResult.test_report()`.

    Parameters: hidden (alias layers), activation, optimizer, learning_rate (lr),
    batch_size, epochs, patience, seed, monitor, dataset, l2, ema, accumulate (acc),
    precision (prec), and `model_args.<key>` / `optimizer_args.<key>`: one keyword of the
    base's model builder or optimizer (`{"model_args.dropout": [0, 0.3]}`: trials
    `dropout=0`, `dropout=0.3`, each with the base's model_args plus that key). A
    learning rate may be a schedule (`lt.optimizers.schedules.CosineDecay(...)`) or its
    config dict, which may carry a `"label"` naming it in trial ids (default: its class
    name; two different schedules of one sweep need different labels).
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
        self._check_names()
        self._check_dict_params()
        self.seed, self.logdir, self.description = int(seed), os.fspath(logdir), description
        self.rank_by = check_rank_by(rank_by)
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

    def _values(self):
        """`{param: [values given]}` over the grid, the random choices and the configs."""
        values = {}
        for key, space in [*self.grid.items(),
                           *((k, v) for k, v in self.random.items() if isinstance(v, list)),
                           *((k, [v]) for c in self.configs for k, v in c.items())]:
            values.setdefault(key, []).extend(space)
        return values

    def _check_names(self):
        """Two different values of a parameter must not share a name in trial ids (two
        CosineDecay schedules, say): their trials would share a folder."""
        for key, values in self._values().items():
            named = {}
            for value in values:
                name = safe_name(_format(value))
                other = named.setdefault(name, value)
                if other != value:
                    hint = ("; give each schedule a \"label\" in its config dict"
                            if isinstance(value, NamedSchedule) else "")
                    raise ConfigError(f"{key}: values {other!r} and {value!r} would both be "
                                      f"named {name!r} in trial ids{hint}")

    def _check_dict_params(self):
        """`model_args.<key>` needs a model of the base's own, whose builder takes `key`."""
        for key in self.swept:
            dotted = split_dotted(key)
            if not dotted or dotted[0] != "model_args":
                continue
            if self.base.model is None:
                raise ConfigError(f"cannot sweep {key!r}: the base experiment has no model of "
                                  "its own (model=...) to pass model_args to")
            build = self.base.model_builder.func  # a "file.py:fn" name is loaded here
            try:
                signature = inspect.signature(build)
            except (TypeError, ValueError):
                continue
            params = signature.parameters
            if dotted[1] not in params and not any(p.kind is p.VAR_KEYWORD
                                                   for p in params.values()):
                raise ConfigError(
                    f"cannot sweep {key!r}: the model builder "
                    f"{getattr(build, '__name__', self.base.model)!r} has no "
                    f"argument {dotted[1]!r} (it takes {', '.join(params)})")

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
        _one_type_per_column(trials)
        self._trials = trials
        return trials

    def _trial(self, trial_id, params):
        fields = {}
        for key, value in params.items():
            dotted = split_dotted(key)
            if dotted:
                field, arg = dotted
                fields[field] = {**(fields.get(field) or getattr(self.base, field) or {}),
                                 arg: list(value) if isinstance(value, tuple) else value}
            else:
                fields[key] = value.schedule if isinstance(value, NamedSchedule) else value
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{self.name}-{trial_id}")
        try:
            experiment = dataclasses.replace(
                self.base, name=name, run_dir=SweepDir(self.root).trial(trial_id).path, **fields)
        except ConfigError as e:
            raise ConfigError(f"trial {trial_id} of sweep {self.name}: {e}") from None
        return Trial(trial_id, params, experiment, self._trial_hparams(experiment, params))

    def _trial_hparams(self, e, params):
        """The trial's values for the HParams dashboard, keyed like the Trainer's own (JSON
        scalars: a schedule is its label, a list its items joined by `-`)."""
        rate = params.get("learning_rate", e.learning_rate)
        # A schedule by its label or class (with schedules in the sweep, every rate
        # becomes text: `_one_type_per_column`).
        rate = rate.label if isinstance(rate, NamedSchedule) else type(rate).__name__ \
            if isinstance(rate, schedules.Schedule) else float(rate)
        values = {"optimizer": e.optimizer, "learning_rate": rate,
                  "batch_size": e.batch_size, "epochs": e.epochs, "seed": e.seed,
                  "sweep": self.name}
        if e.model is None:
            values.update(layers="-".join(str(u) for u in e.hidden) or "none",
                          activation=e.activation, depth=len(e.hidden),
                          n_params=count_params(e.hidden))
        else:  # a model of its own: its size is known once built
            values["model"] = str(e.as_record()["model"]).rsplit(":", 1)[-1]
        for key in self.swept:
            name = DASHBOARD_NAMES.get(key, key)
            if key == "hidden" or name in values:
                continue
            dotted = split_dotted(key)
            if key in params:
                value = params[key]
            else:
                value = (getattr(e, dotted[0]) or {}).get(dotted[1]) if dotted \
                    else getattr(e, key)
            if value is None:
                value = {"patience": 0, "ema": 0.0}.get(key, "none")
            values[name] = dashboard_value(value)
        return values


def _one_type_per_column(trials):
    """The dashboard takes one type per hparam: numbers mixed with text (0.5 and "none")
    all become text, ints mixed with floats floats."""
    keys = {k for t in trials for k in t.hparams}
    for key in keys:
        values = [t.hparams[key] for t in trials if key in t.hparams]
        kinds = {type(v) for v in values}
        if kinds <= {int, float} and len(kinds) > 1:
            convert = float
        elif len(kinds) > 1:
            convert = _format
        else:
            continue
        for t in trials:
            if key in t.hparams:
                t.hparams[key] = convert(t.hparams[key])


def load_target(spec=None):
    """`(sweep, experiment)` defined by a name in `experiments/`, a .py file or a module:
    `sweep` is its `sweep = lowtf.sweep.Sweep(...)` (or None), `experiment` its `experiment`
    (or the sweep's base, or the reference experiment for `spec=None`)."""
    if not spec:
        return None, Experiment()
    module = load_module(spec)
    sweep = getattr(module, "sweep", None)
    experiment = getattr(module, "experiment", None)
    if sweep is not None and not isinstance(sweep, Sweep):
        raise ConfigError(f"{spec!r} defines `sweep` but it is not a lowtf.sweep.Sweep")
    if experiment is not None and not isinstance(experiment, Experiment):
        experiment = None
    if sweep is None and experiment is None:
        raise ConfigError(f"{spec!r} must define `sweep = lowtf.sweep.Sweep(...)` or "
                          "`experiment = lowtf.Experiment(...)`")
    return sweep, experiment if experiment is not None else sweep.base


def load_sweep(spec):
    """The `sweep = lowtf.sweep.Sweep(...)` of a name in `experiments/`, a .py file or a module."""
    sweep, _ = load_target(spec)
    if sweep is None:
        raise ConfigError(f"{spec!r} defines no `sweep = lowtf.sweep.Sweep(...)`")
    return sweep
