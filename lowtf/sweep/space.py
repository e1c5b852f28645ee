"""What a sweep may vary and how: the sweepable parameters and their aliases, the
random distributions (`LogUniform`, `Uniform`), the checking of swept values
(`normalize`) and the trial names built from them (`h=300-100,lr=0.01`).

No TensorFlow and no files here: a sweep's search space is checked before anything runs.
"""

import dataclasses
import math
import re

import numpy as np

from lowtf.activations import ACTIVATIONS
from lowtf.errors import ConfigError
from lowtf.optimizers import OPTIMIZERS, check_learning_rate

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



def _as_list(name, values):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"the values of {name!r} must be a list, got {values!r}")
    values = list(values)
    if not values:
        raise ConfigError(f"no values given for {name!r}")
    return values
