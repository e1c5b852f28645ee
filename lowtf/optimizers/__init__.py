"""Optimizers: SGD, Adagrad, RMSprop, Adam, and AdamW / SGDW (decoupled weight decay)
as plain `tf.Module`s, with learning-rate schedules (`schedules`) and gradient clipping
(`clipnorm`, `global_clipnorm`, `clipvalue`).

The update arithmetic mirrors Keras 3's `keras.optimizers` operation for
operation (same association order, same Python-float constants), so weights
match Keras to float32 rounding. What differs is the life cycle, made explicit
for low-level training loops:

* `build(variables)` creates every slot variable once, eagerly. Call it before
  tracing a training step and before the first checkpoint save, so checkpoints
  always hold the slots, and inside `strategy.scope()` when distributing so the
  slots are created as distributed variables.
* `apply(gradients, variables)` only reads and assigns variables, so it works
  inside `tf.function`, including `jit_compile=True`.

Checkpoint keys are stable: `_learning_rate`, `_iterations` and
`_slots/<i>/<slot name>`, where `i` is the variable's position in `build`; with a
schedule also `_learning_rate_scale`.

One module per concern: `checks` (argument checks, also used by `Experiment` and
sweeps), `base` (the `Optimizer` base class), one module per family (`sgd`,
`adagrad`, `rmsprop`, `adam`), `schedules`, and here the registry of names (`OPTIMIZERS`,
`get_optimizer`).
"""

from lowtf.names import OPTIMIZER_NAMES
from lowtf.optimizers.adagrad import Adagrad
from lowtf.optimizers import schedules
from lowtf.optimizers.adam import Adam, AdamW
from lowtf.optimizers.base import Optimizer
from lowtf.optimizers.checks import (  # noqa: F401  (FLOAT32_*: public before the split)
    FLOAT32_MAX,
    FLOAT32_TINY,
    _check_kwargs,
    _config_error,
    check_learning_rate,
)
from lowtf.optimizers.rmsprop import RMSprop
from lowtf.optimizers.sgd import SGD, SGDW

__all__ = [
    "OPTIMIZERS",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "SGDW",
    "schedules",
    "get_optimizer",
    "check_learning_rate",
]

OPTIMIZERS = OPTIMIZER_NAMES

# name -> (class, default keyword arguments); caller kwargs override the defaults.
_REGISTRY = {
    "sgd": (SGD, {}),
    "gd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
    "sgdw": (SGDW, {}),
}
assert tuple(_REGISTRY) == OPTIMIZERS


def get_optimizer(name_or_optimizer, **kwargs):
    """Returns an optimizer by name, or passes an `Optimizer` instance through.

    Args:
        name_or_optimizer: one of `OPTIMIZERS` (case-insensitive): "sgd"/"gd",
            "momentum" (SGD, momentum=0.9), "nesterov" (SGD, momentum=0.9,
            nesterov=True), "adagrad", "rmsprop", "adam", "adamw" (`AdamW`),
            "sgdw" (`SGDW`); or an `Optimizer`.
        **kwargs: constructor arguments, e.g. learning_rate=0.1; they override
            the name's defaults. Not allowed with an instance.

    Returns:
        An `Optimizer`.

    Raises:
        ConfigError: unknown name or argument, bad value, or kwargs with an instance.
    """
    if isinstance(name_or_optimizer, Optimizer):
        if kwargs:
            raise _config_error(
                f"get_optimizer: got an optimizer instance and arguments "
                f"{sorted(kwargs)}; set them when constructing the optimizer"
            )
        return name_or_optimizer
    key = None
    if isinstance(name_or_optimizer, str):
        key = name_or_optimizer.strip().lower()
    if key not in _REGISTRY:
        raise _config_error(
            f"unknown optimizer {name_or_optimizer!r}; valid names are "
            f"{', '.join(OPTIMIZERS)}, or pass an Optimizer instance"
        )
    cls, defaults = _REGISTRY[key]
    _check_kwargs(cls, kwargs, f"get_optimizer({key!r})")
    return cls(**{**defaults, **kwargs})
