"""What a sweep may vary and how: the sweepable parameters and their aliases, the
random distributions (`LogUniform`, `Uniform`), the checking of swept values
(`normalize`) and the trial names built from them (`h=300-100,lr=0.01`).

Besides the Experiment's fields, a sweep varies one key of its JSON argument dicts as
`model_args.<key>` (the builder's keyword, e.g. `model_args.dropout`, named `dropout=0.3`
in trial ids) or `optimizer_args.<key>` (`optimizer_args.global_clipnorm`); and a
learning rate may be a schedule (`lt.optimizers.schedules`, or its config dict, which may
carry a `"label"`): trial ids and the dashboard name it by its label, else its class
(`lr=CosineDecay`).

No files here: a sweep's search space is checked before anything runs.
"""

import dataclasses
import json
import math
import re

import numpy as np

from lowtf.activations import ACTIVATIONS
from lowtf.ema import check_decay
from lowtf.errors import ConfigError
from lowtf.optimizers import OPTIMIZERS, check_learning_rate, schedules
from lowtf.precision import POLICIES

# Experiment fields a sweep may vary, the short name used in trial ids, and aliases.
PARAMS = {
    "hidden": "h", "activation": "act", "optimizer": "opt", "learning_rate": "lr",
    "batch_size": "bs", "epochs": "ep", "patience": "pat", "seed": "seed",
    "monitor": "mon", "dataset": "data",
    "l2": "l2", "ema": "ema", "accumulate": "acc", "precision": "prec",
}
ALIASES = {"layers": "hidden", "units": "hidden", "lr": "learning_rate",
           "batch": "batch_size", "act": "activation", "opt": "optimizer",
           "h": "hidden", "bs": "batch_size", "ep": "epochs", "pat": "patience",
           "acc": "accumulate", "prec": "precision"}
# The Experiment's JSON dicts a sweep varies a key of, as `<dict>.<key>`.
DICT_FIELDS = ("model_args", "optimizer_args")
# How a parameter is called on the HParams dashboard (the Trainer's hparams keys); a
# `model_args.<key>` keeps its full name there (a `dropout` column could be anything).
DASHBOARD_NAMES = {"hidden": "layers"}


def split_dotted(param):
    """`("model_args", "dropout")` for `model_args.dropout`, else None."""
    field, dot, key = param.partition(".")
    return (field, key) if dot and field in DICT_FIELDS else None


@dataclasses.dataclass(frozen=True)
class NamedSchedule:
    """A swept learning-rate schedule and the name trial ids and the dashboard give it
    (its `"label"`, else its class name)."""

    label: str
    schedule: object

    def __str__(self):
        return self.label

    def config(self):
        return {"label": self.label, **self.schedule.get_config()}


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
    dotted = split_dotted(str(key))
    if dotted:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dotted[1]):
            raise ConfigError(f"cannot sweep {name!r}: {dotted[0]}.<key> needs a keyword "
                              f"argument name after the dot, such as {dotted[0]}.dropout")
        return key
    if key not in PARAMS:
        raise ConfigError(f"cannot sweep {name!r}; sweepable: {', '.join(PARAMS)}, "
                          f"{', '.join(f + '.<key>' for f in DICT_FIELDS)} "
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


def _as_json_value(param, value):
    """A `model_args.<key>` / `optimizer_args.<key>` value: JSON (text from the command
    line is read as JSON where it parses: `0.5`, `true`, `[64, 32]`; else kept as text)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("none", "null"):
            return None
        try:
            return _from_json(json.loads(text))
        except ValueError:
            return text
    try:
        return _from_json(json.loads(json.dumps(value)))
    except (TypeError, ValueError):
        raise ConfigError(f"{param} values must be JSON (numbers, text, true/false, lists), "
                          f"got {value!r}") from None


def _from_json(value):
    """JSON lists as tuples: hashable, and named like layer sizes (`512-512`)."""
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _as_schedule(value):
    if isinstance(value, NamedSchedule):
        return value
    if isinstance(value, schedules.Schedule):
        return NamedSchedule(type(value).__name__, value)
    config = dict(value)
    label = config.pop("label", None)
    try:
        schedule = schedules.from_config(config)
    except ConfigError as e:
        raise ConfigError(f"learning_rate: {e}") from None
    label = config["class"] if label is None else str(label).strip()
    if not label:
        raise ConfigError(f"learning_rate: a schedule's label must not be empty, got {value!r}")
    return NamedSchedule(label, schedule)


def _as_number(param, value, check):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    try:
        return check(value)
    except ConfigError as e:
        raise ConfigError(f"{param}: {e}") from None


def normalize(param, value):
    """A swept value in the form the Experiment takes (checked)."""
    if split_dotted(param):
        return _as_json_value(param, value)
    if param == "learning_rate" and (isinstance(value, (dict, schedules.Schedule,
                                                        NamedSchedule))):
        return _as_schedule(value)
    if param == "l2":
        def check(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                raise ConfigError(f"l2 must be a number >= 0 (the penalty's factor), got {v!r}")
            return float(v)
        return _as_number(param, value, check)
    if param == "ema":
        if value is None or str(value).lower() in ("none", "off", "0", "0.0"):
            return None
        return _as_number(param, value, check_decay)
    if param == "precision":
        key = "float32" if value is None else str(value).strip().lower()
        if key not in POLICIES:
            raise ConfigError(f"unknown precision {value!r}; use one of {', '.join(POLICIES)}")
        return key
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
    if param in ("batch_size", "epochs", "patience", "seed", "accumulate"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{param} must be an int, got {value!r}") from None
        if isinstance(value, bool) or (isinstance(value, float) and value != number):
            raise ConfigError(f"{param} must be an int, got {value!r}")
        if param == "accumulate" and number < 1:
            raise ConfigError(f"accumulate must be an int >= 1 (batches per update), "
                              f"got {value!r}")
        return number
    return str(value)


def _format(value):
    if isinstance(value, tuple):
        return "-".join(_format(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def dashboard_value(value):
    """A swept value as a JSON scalar (for the dashboard and the results table)."""
    if isinstance(value, (tuple, NamedSchedule)):
        return _format(value)
    return value


def short_names(params):
    """`{param: its name in trial ids}`: PARAMS' short names; a `model_args.<key>` is
    `<key>`, or its full name where that would be ambiguous."""
    shorts = {k: PARAMS.get(k, k.partition(".")[2]) for k in params}
    taken = [s for s in shorts.values()] + list(PARAMS.values())
    return {k: (k if split_dotted(k) and taken.count(s) > 1 else s) for k, s in shorts.items()}


def trial_name(params):
    """The folder name of a trial: `h=300-100,lr=0.01` (safe on any file system)."""
    if not params:
        return "base"
    shorts = short_names(params)
    return safe_name(",".join(f"{shorts[k]}={_format(v)}" for k, v in params.items()))


def safe_name(text):
    """`text` with every character a file system may not take replaced by `_`."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text)



def _as_list(name, values):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"the values of {name!r} must be a list, got {values!r}")
    values = list(values)
    if not values:
        raise ConfigError(f"no values given for {name!r}")
    return values
