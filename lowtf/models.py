"""The model contract: what lowtf needs of a model, and nothing more.

A model is any object with `trainable_variables` and `__call__` (usually a `tf.Module`
built from `tf.Variable`s): `outputs = model(x, training=...)`. lowtf passes
`training=True` in training steps and `training=False` in evaluation, prediction and
export, when the call accepts a `training` argument; otherwise it calls `model(x)`.

Inputs reach the model with the shape and dtype the data has, except that uint8 arrays
(images, 0-255) arrive as float32 scaled to [0, 1]. A model may say more about itself:
`n_inputs` (it takes `[batch, n_inputs]` features: lowtf checks widths before any step),
`n_outputs` (its class count, else read from its outputs) and a JSON `config` (what a
resumed run must match, and how `lt.restore` rebuilds a `lowtf.Network`).

A model built by a function lowtf can import again (a module's function, or a function
in an experiment file, with JSON keyword arguments via `functools.partial`) is recorded
in the run as its *builder*, so `lt.restore(run_dir)` can rebuild it in a fresh process.
"""

import functools
import inspect
import json
import os
import sys

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError

EXPERIMENT_MODULE_PREFIX = "lowtf_experiment"  # modules loaded from experiment files


def accepts_training(model):
    """Whether `model(x, training=...)` is a valid call (a `training` or `**kwargs` parameter)."""
    try:
        parameters = inspect.signature(model).parameters
    except (TypeError, ValueError):  # no signature to read: call it the plain way
        return False
    return "training" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def call_model(model, x, training):
    """`model(x, training=training)`, or `model(x)` for a model that takes no `training`."""
    if accepts_training(model):
        return model(x, training=training)
    return model(x)


def check_model(model):
    """The model, checked against the contract (callable, with variables); an object that
    is not a `tf.Module` comes back wrapped in one (`Wrapped`), so checkpoints and
    exports can track its variables."""
    if not callable(model) or not hasattr(model, "trainable_variables"):
        raise ConfigError(
            f"a model must be callable and have trainable_variables (a tf.Module), got "
            f"{type(model).__name__}; subclass tf.Module and define __call__(self, x)")
    if not list(model.trainable_variables):
        raise ConfigError(
            f"model {type(model).__name__} has no trainable variables; create its "
            "tf.Variables in __init__ (lowtf builds the optimizer's slots before the first step)")
    return model if isinstance(model, tf.Module) else Wrapped(model)


def is_builder(model):
    """Whether `model` is a function (or a class) that builds a model, not a model."""
    return isinstance(model, type) or (callable(model) and
                                       not hasattr(model, "trainable_variables"))


def build_model(model):
    """`(model, builder record)` from a model or a zero-argument function building one,
    called in the current strategy's scope (so a distributed model's variables are
    mirrored); the record is None for a model given built or an unimportable builder."""
    built = is_builder(model)
    result = check_model(model() if built else model)
    if tf.distribute.has_strategy() and not all(
            isinstance(v, tf.distribute.DistributedValues) for v in result.trainable_variables):
        raise ConfigError("the model's variables were created outside the strategy scope; "
                          "pass a function that builds the model (e.g. model=lambda: "
                          "lt.dnn(...)) so the trainer builds it inside strategy.scope()")
    return result, builder_record(model) if built else None


class Wrapped(tf.Module):
    """A model that is not a `tf.Module`, made one: it holds the model's variables (all of
    them when it has `variables`, else its trainable ones) and calls it."""

    def __init__(self, model):
        super().__init__(name="model")
        self.wrapped = model
        self.weights = list(getattr(model, "variables", None) or model.trainable_variables)
        for fact in ("n_inputs", "n_outputs", "config"):
            if hasattr(model, fact):
                setattr(self, fact, getattr(model, fact))

    @property
    def trainable_variables(self):
        return tuple(self.wrapped.trainable_variables)

    def __call__(self, x, training=None):
        return call_model(self.wrapped, x, training)


def input_width(model):
    """`n_inputs` of a model that takes flat `[batch, n_inputs]` features, else None."""
    width = getattr(model, "n_inputs", None)
    return width if isinstance(width, int) and not isinstance(width, bool) else None


def output_width(model, sample=None):
    """The model's output count: its `n_outputs`, else the last dimension of its
    outputs on `sample` (one or a few examples, already converted for the model)."""
    width = getattr(model, "n_outputs", None)
    if isinstance(width, int) and not isinstance(width, bool):
        return width
    if sample is None:
        return None
    outputs = call_model(model, sample, training=False)
    return int(outputs.shape[-1]) if outputs.shape.rank and outputs.shape[-1] else None


def description(model):
    """What a resumed run must match: the model's JSON `config`, else its class."""
    model = getattr(model, "wrapped", model) if isinstance(model, Wrapped) else model
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        try:
            return json.loads(json.dumps(config))
        except (TypeError, ValueError):
            pass
    return {"class": f"{type(model).__module__}.{type(model).__qualname__}"}


def input_spec(x_shape, dtype):
    """The recorded input of a run: the example shape (no batch) and the dtype given."""
    return {"shape": [None if d is None else int(d) for d in list(x_shape)[1:]],
            "dtype": tf.as_dtype(dtype).name}


# ---- builders: how a run's model can be rebuilt in another process ----------------------

def builder_record(build):
    """`{"function": "module:name" or "file.py:name", "arguments": {...}}` for a builder
    lowtf can import again, else None (a lambda, a closure, a script's `__main__`)."""
    arguments = {}
    if isinstance(build, functools.partial):
        if build.args:
            return None
        arguments, build = dict(build.keywords), build.func
    try:
        arguments = json.loads(json.dumps(arguments))
    except (TypeError, ValueError):
        return None
    name = getattr(build, "__qualname__", "")
    module_name = getattr(build, "__module__", None)
    if not inspect.isfunction(build) or "<" in name or not module_name:
        return None
    module = sys.modules.get(module_name)
    if module is None or module_name == "__main__":
        return None
    if module_name.startswith(EXPERIMENT_MODULE_PREFIX):
        if not getattr(module, "__file__", None):
            return None
        where = os.path.abspath(module.__file__)
    else:
        where = module_name
    return {"function": f"{where}:{name}", "arguments": arguments}


def rebuild(record):
    """Calls a recorded builder and returns the model it builds."""
    from lowtf.experiment import load_module  # experiment files load as lowtf loads them
    if not isinstance(record, dict) or not isinstance(record.get("function"), str) \
            or ":" not in record["function"]:
        raise ConfigError(f"invalid model builder record {record!r}")
    where, name = record["function"].rsplit(":", 1)
    module = load_module(where, prefix=EXPERIMENT_MODULE_PREFIX)
    build = module
    for part in name.split("."):
        build = getattr(build, part, None)
        if build is None:
            raise ConfigError(f"the run's model builder {record['function']!r} no longer "
                              f"exists ({where} has no {name!r}); pass lt.restore(..., "
                              "model=...) with the model the run trained")
    return build(**record.get("arguments", {}))


def summary(model):
    """The model's own `summary()`, else a table of its variables, named by their paths
    in the checkpoint (`conv1`, `layers/0/kernel`), with shapes and sizes."""
    own = getattr(model, "summary", None)
    if callable(own):
        return own()
    from lowtf.checkpoints import variable_shapes  # the checkpoint's own naming
    rows = [("Variable", "Shape", "Values")]
    for key, shape in sorted(variable_shapes(model).items()):
        name = key.split("/", 1)[1].replace("/.ATTRIBUTES/VARIABLE_VALUE", "")
        rows.append((name, str(list(shape)), f"{int(np.prod(shape)):,}"))
    total = sum(int(v.shape.num_elements() or 0) for v in model.trainable_variables)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [type(getattr(model, "wrapped", model)).__name__] + [
        "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines + [f"Total trainable parameters: {total:,}"])
