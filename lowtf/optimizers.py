"""Optimizers: SGD, Adagrad, RMSprop and Adam as plain `tf.Module`s.

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
`_slots/<i>/<slot name>`, where `i` is the variable's position in `build`.
"""

import inspect
import math
import numbers

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError
from lowtf.names import OPTIMIZER_NAMES

__all__ = [
    "OPTIMIZERS",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "get_optimizer",
    "check_learning_rate",
]

OPTIMIZERS = OPTIMIZER_NAMES
# The magnitudes a float32 holds as normal numbers: hyperparameters must lie in between.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _config_error(message):
    """Returns a ConfigError that tf.function tracing re-raises unchanged.

    AutoGraph turns exceptions whose class has a custom __init__ (ConfigError
    inherits ValueError's) into StagingError unless they carry `ag_pass_through`.
    """
    error = ConfigError(message)
    error.ag_pass_through = True
    return error


def _check_number(owner, arg, value, low, high, low_open=False, high_open=True):
    """Returns `value` as a float; raises ConfigError unless it lies in the range."""
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )
    if valid:
        number = float(value)
        valid = (number > low if low_open else number >= low) and (
            number < high if high_open else number <= high
        )
    if not valid:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise _config_error(
            f"{owner}: {arg} must be a number in {interval}, got {value!r}"
        )
    # The value is used as float32: one it cannot hold would silently become 0 or inf
    # (or a subnormal, which CPU kernels flush to 0).
    if number != 0 and not FLOAT32_TINY <= abs(number) <= FLOAT32_MAX:
        becomes = "inf" if abs(number) > FLOAT32_MAX else "0.0 or a subnormal flushed to 0.0"
        raise _config_error(
            f"{owner}: {arg} {value!r} is outside the range of float32, in which lowtf "
            f"computes (it would become {becomes}); use a value between "
            f"{FLOAT32_TINY:.3g} and {FLOAT32_MAX:.3g}"
        )
    return number


def check_learning_rate(value, owner="learning_rate"):
    """Returns `value` as a float; raises ConfigError unless it is > 0 and float32 holds it.

    The one check of a learning rate: optimizers, `Experiment` and sweeps all use it.
    """
    return _check_number(owner, "learning_rate", value, 0.0, math.inf, low_open=True)


def _check_bool(owner, arg, value):
    """Returns `value`; raises ConfigError unless it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise _config_error(f"{owner}: {arg} must be True or False, got {value!r}")
    return bool(value)


def _check_kwargs(cls, kwargs, what):
    """Raises ConfigError naming any keyword argument `cls` does not accept."""
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise _config_error(
            f"{what}: unknown argument(s) {', '.join(unknown)}; "
            f"{cls.__name__} accepts {', '.join(accepted)}"
        )


def _variable_name(variable):
    return getattr(variable, "name", repr(variable))


class Optimizer(tf.Module):
    """Base class: owns the learning rate, the step counter and the slot variables.

    Subclasses define `_slot_specs` (which slots each variable gets) and
    `_update_step` (the update of one variable), and add their hyperparameters
    to `get_config`.

    Args:
        learning_rate: initial learning rate, > 0.
        name: module name, a Python identifier; defaults to the class name.

    Raises:
        ConfigError: learning_rate or name is invalid.

    Attributes:
        learning_rate: float32 `tf.Variable`. Read it, `.assign()` to it, or set
            `optimizer.learning_rate = x` (which assigns, so traced functions
            see the new value).
        iterations: int64 `tf.Variable`, the number of `apply` calls so far.
    """

    def __init__(self, learning_rate, name=None):
        owner = type(self).__name__
        learning_rate = check_learning_rate(learning_rate, owner)
        name = name or owner
        if not isinstance(name, str) or not name.isidentifier():
            raise _config_error(
                f"{owner}: name must be a Python identifier, got {name!r}"
            )
        super().__init__(name=name)
        self._initial_learning_rate = learning_rate
        # ONLY_FIRST_REPLICA: when built under a strategy, one replica's
        # update of these counts for all.
        first_replica = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with self.name_scope:
            self._learning_rate = tf.Variable(
                learning_rate,
                dtype=tf.float32,
                trainable=False,
                name="learning_rate",
                aggregation=first_replica,
            )
            self._iterations = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                name="iterations",
                aggregation=first_replica,
            )
        self._slots = []  # one {slot name: tf.Variable} dict per built variable
        # Tuple of Variable.ref(): identifies the built variables without
        # tracking them (a tuple of non-trackables is stored as is).
        self._variable_refs = None

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        # Assign rather than rebind: traced functions keep reading the variable.
        if not tf.is_tensor(value):
            value = check_learning_rate(value, type(self).__name__)
        self._learning_rate.assign(value)

    @property
    def iterations(self):
        return self._iterations

    @property
    def built(self):
        """Whether `build` has created the slot variables."""
        return self._variable_refs is not None

    def build(self, variables):
        """Creates the slot variables of `variables`, once, eagerly.

        Call it before the first traced training step and the first checkpoint
        save, and inside `strategy.scope()` when distributing.

        Args:
            variables: the float `tf.Variable`s to optimize, typically
                `model.trainable_variables`. Their order fixes checkpoint keys.

        Raises:
            ConfigError: already built for different variables, called inside
                `tf.function`, or `variables` is empty, holds duplicates or
                non-float / non-variable items.
        """
        variables = list(variables)
        owner = type(self).__name__
        for variable in variables:
            if not isinstance(variable, tf.Variable) or not variable.dtype.is_floating:
                raise _config_error(
                    f"{owner}.build: expected float tf.Variables, got {variable!r}"
                )
        refs = tuple(v.ref() for v in variables)
        if self.built:
            if refs == self._variable_refs:
                return
            raise _config_error(
                f"{owner}.build: already built for {len(self._variable_refs)} other "
                f"variables, got {len(refs)} different ones; create a new optimizer "
                "for a different model"
            )
        if not tf.executing_eagerly():
            raise _config_error(
                f"{owner}.build must run eagerly, outside tf.function: call "
                "optimizer.build(model.trainable_variables) before the first step"
            )
        if not variables:
            raise _config_error(f"{owner}.build: got no variables to optimize")
        if len(set(refs)) != len(refs):
            raise _config_error(f"{owner}.build: a variable is listed more than once")
        for variable in variables:
            if not variable.shape.is_fully_defined():
                raise _config_error(
                    f"{owner}.build: variable {variable.name!r} has a partially "
                    f"unknown shape {variable.shape}"
                )
        specs = self._slot_specs()
        with self.name_scope:
            self._slots = [
                {slot: self._make_slot(v, slot, init) for slot, init in specs.items()}
                for v in variables
            ]
        self._variable_refs = refs

    def _make_slot(self, variable, slot, initial_value):
        base = variable.name.split(":")[0].replace("/", "_")
        # Colocation keeps slots next to their variable under parameter servers;
        # under the default strategy it changes nothing.
        with tf.distribute.get_strategy().extended.colocate_vars_with(variable):
            return tf.Variable(
                tf.fill(variable.shape, tf.cast(initial_value, variable.dtype)),
                trainable=False,
                name=f"{base}_{slot}",
            )

    @property
    def slot_names(self):
        """Names of the slots each variable gets, e.g. ("momentum", "velocity")."""
        return tuple(self._slot_specs())

    def get_slot(self, variable, slot):
        """Returns the slot variable named `slot` (e.g. "momentum") of `variable`."""
        index = self._index_of(variable)
        if slot not in self._slots[index]:
            raise _config_error(
                f"{type(self).__name__} has no slot {slot!r}; it has "
                f"{sorted(self._slots[index])}"
            )
        return self._slots[index][slot]

    def _index_of(self, variable):
        ref = variable.ref() if hasattr(variable, "ref") else None
        if self.built and ref in self._variable_refs:
            return self._variable_refs.index(ref)
        raise _config_error(
            f"{type(self).__name__}: variable {_variable_name(variable)!r} was not "
            "passed to optimizer.build()"
        )

    def apply(self, gradients, variables, if_finite=None):
        """Applies one update to `variables` and increments `iterations`.

        Works eagerly and inside `tf.function` (also with `jit_compile=True`).
        Eagerly, the first call builds the optimizer if needed.

        Args:
            gradients: one gradient per variable, dense or `tf.IndexedSlices`
                (densified); cast to the variable's dtype.
            variables: variables passed to `build`, in any order.
            if_finite: None applies the update unconditionally. A bool (tensor)
                applies it only if it is true *and* every new value of every
                variable and slot is finite; otherwise nothing changes, not even
                `iterations`. This is the guard that keeps NaN and Inf out of the
                weights whatever produced them (data, kernels, an overflowing step).

        Returns:
            With `if_finite`, a bool tensor: whether the update was applied.

        Raises:
            ConfigError: lengths differ, a gradient is None or has the wrong
                shape, a variable was not built, or the optimizer is not built
                inside `tf.function`.
        """
        gradients, variables = list(gradients), list(variables)
        owner = type(self).__name__
        if len(gradients) != len(variables):
            raise _config_error(
                f"{owner}.apply: got {len(gradients)} gradients for "
                f"{len(variables)} variables"
            )
        for gradient, variable in zip(gradients, variables):
            if gradient is None:
                raise _config_error(
                    f"{owner}.apply: gradient of variable {_variable_name(variable)!r} "
                    "is None (the loss does not depend on it); leave it out of "
                    "the optimized variables"
                )
        if not self.built:
            if not tf.executing_eagerly():
                raise _config_error(
                    f"{owner} is not built: call optimizer.build("
                    "model.trainable_variables) first, eagerly, before running "
                    "the tf.function that applies gradients"
                )
            self.build(variables)
        if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
            strategy = tf.distribute.get_strategy()
            local = strategy.experimental_local_results
            for gradient, variable in zip(gradients, variables):
                self._check_gradient(local(gradient)[0], variable)
            if if_finite is not None:  # decided once, on the first device's copies
                if_finite = self._all_finite(if_finite, [
                    self._new_values(local(v)[0], local(g)[0], self._local_slots(v))
                    for g, v in zip(gradients, variables)])
            for gradient, variable in zip(gradients, variables):
                # Runs the update on each device with that device's copies of the
                # variable, its slots and the (already all-reduced) gradient.
                strategy.extended.update(
                    variable, self._update_one,
                    args=(gradient, self._slots[self._index_of(variable)], if_finite),
                    group=False)
        else:
            for gradient, variable in zip(gradients, variables):
                self._check_gradient(tf.convert_to_tensor(gradient), variable)
            new = [self._new_values(v, g, self._slots[self._index_of(v)])
                   for g, v in zip(gradients, variables)]
            if if_finite is not None:
                if_finite = self._all_finite(if_finite, new)
            self._assign([(variable, value, self._slots[self._index_of(variable)], slot_values)
                          for variable, (value, slot_values) in zip(variables, new)], if_finite)
        if if_finite is None:
            self._iterations.assign_add(1)
            return None
        self._iterations.assign_add(tf.cast(if_finite, tf.int64))
        return if_finite

    @staticmethod
    def _all_finite(condition, new):
        """`condition` and every new value of every variable and slot finite."""
        checks = [tf.convert_to_tensor(condition, tf.bool)]
        for value, slot_values in new:
            checks += [tf.reduce_all(tf.math.is_finite(t))
                       for t in (value, *slot_values.values())]
        return tf.reduce_all(tf.stack(checks))

    def _local_slots(self, variable):
        slots = self._slots[self._index_of(variable)]
        return {name: tf.distribute.get_strategy().experimental_local_results(slot)[0]
                for name, slot in slots.items()}

    def _check_gradient(self, gradient, variable):
        if not tf.convert_to_tensor(gradient).shape.is_compatible_with(variable.shape):
            raise _config_error(
                f"{type(self).__name__}.apply: gradient shape {gradient.shape} does not "
                f"match variable {variable.name!r} of shape {variable.shape}"
            )

    def _new_values(self, variable, gradient, slots):
        """`(new value, {slot: new value})` of one variable; assigns nothing."""
        gradient = tf.convert_to_tensor(gradient)
        lr = tf.cast(self._learning_rate.read_value(), variable.dtype)
        return self._update_step(tf.cast(gradient, variable.dtype), variable, slots, lr)

    def _update_one(self, variable, gradient, slots, if_finite=None):
        value, slot_values = self._new_values(variable, gradient, slots)
        self._assign([(variable, value, slots, slot_values)], if_finite)

    @staticmethod
    def _assign(updates, if_finite):
        """Assigns `(variable, value, slots, slot values)` updates, all or (if refused) none."""
        def assign():
            for variable, value, slots, slot_values in updates:
                for name, slot_value in slot_values.items():
                    slots[name].assign(slot_value)
                variable.assign(value)
            return tf.constant(True)

        if if_finite is None:
            assign()
        else:  # a refused update leaves the variables and their slots as they were
            tf.cond(if_finite, assign, lambda: tf.constant(False))

    def _slot_specs(self):
        """Returns {slot name: initial value} of the slots every variable gets."""
        return {}

    def _update_step(self, gradient, variable, slots, lr):
        """`(new value, {slot: new value})` of `variable` (read only, as are its `slots`);
        gradient and lr have its dtype. The base class assigns them."""
        raise NotImplementedError

    def get_config(self):
        """Returns a JSON-serialisable dict: name, learning rate, hyperparameters.

        The learning rate is the variable's current value (call eagerly).
        """
        learning_rate = float(self._learning_rate.numpy())
        if np.float32(self._initial_learning_rate) == np.float32(learning_rate):
            learning_rate = self._initial_learning_rate  # 0.01, not 0.009999999776
        return {"name": self.name, "learning_rate": learning_rate}

    @classmethod
    def from_config(cls, config):
        """Creates an optimizer from a `get_config` dict.

        Raises:
            ConfigError: `config` has keys this class does not accept, or bad values.
        """
        _check_kwargs(cls, config, f"{cls.__name__}.from_config")
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum, as `keras.optimizers.SGD`.

    Without momentum: `w -= lr * g`. With momentum:
    `m = momentum * m - lr * g`, then `w += m`, or with Nesterov
    `w += momentum * m - lr * g` (using the new `m`).

    Args:
        learning_rate: > 0.
        momentum: in [0, 1); 0 creates no slot.
        nesterov: Nesterov momentum; needs momentum > 0.
        name: module name (a Python identifier).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate, name)
        self.momentum = _check_number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = _check_bool("SGD", "nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise _config_error(
                "SGD: nesterov=True needs momentum in (0, 1), got momentum=0.0"
            )

    def _slot_specs(self):
        return {"momentum": 0.0} if self.momentum != 0 else {}

    def _update_step(self, gradient, variable, slots, lr):
        if self.momentum == 0:
            return variable - gradient * lr, {}
        momentum = tf.cast(self.momentum, variable.dtype)
        m = slots["momentum"] * momentum - gradient * lr
        if self.nesterov:
            return variable + (m * momentum - gradient * lr), {"momentum": m}
        return variable + m, {"momentum": m}

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }


class Adagrad(Optimizer):
    """Adagrad, as `keras.optimizers.Adagrad`.

    `acc += g**2`, then `w -= lr * g / sqrt(acc + epsilon)` (epsilon inside sqrt).

    Args:
        learning_rate: > 0.
        initial_accumulator_value: >= 0, starting value of the accumulator.
        epsilon: > 0, keeps the denominator away from zero.
        name: module name (a Python identifier).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        name=None,
    ):
        super().__init__(learning_rate, name)
        self.initial_accumulator_value = _check_number(
            "Adagrad",
            "initial_accumulator_value",
            initial_accumulator_value,
            0.0,
            math.inf,
        )
        self.epsilon = _check_number(
            "Adagrad", "epsilon", epsilon, 0.0, math.inf, low_open=True
        )

    def _slot_specs(self):
        return {"accumulator": self.initial_accumulator_value}

    def _update_step(self, gradient, variable, slots, lr):
        accumulator = slots["accumulator"] + tf.square(gradient)
        value = variable - (lr * gradient) / tf.sqrt(accumulator + self.epsilon)
        return value, {"accumulator": accumulator}

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum, as `keras.optimizers.RMSprop`.

    `v = rho * v + (1 - rho) * g**2`; centered also tracks
    `a = rho * a + (1 - rho) * g` and uses `v - a**2`. The step is
    `lr * g / sqrt(v [- a**2] + epsilon)` (epsilon inside sqrt), applied
    directly or through momentum `m = momentum * m + step`, `w -= m`.

    Args:
        learning_rate: > 0.
        rho: in [0, 1), decay of the squared-gradient average.
        momentum: in [0, 1); 0 creates no momentum slot.
        epsilon: > 0.
        centered: normalise by the gradient variance instead of the raw second moment.
        name: module name (a Python identifier).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        name=None,
    ):
        super().__init__(learning_rate, name)
        self.rho = _check_number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_number(
            "RMSprop", "epsilon", epsilon, 0.0, math.inf, low_open=True
        )
        self.centered = _check_bool("RMSprop", "centered", centered)

    def _slot_specs(self):
        specs = {"velocity": 0.0}
        if self.momentum > 0:
            specs["momentum"] = 0.0
        if self.centered:
            specs["average_gradient"] = 0.0
        return specs

    def _update_step(self, gradient, variable, slots, lr):
        rho = self.rho
        # `1 - rho` is computed in float64 before rounding, as Keras does.
        velocity = rho * slots["velocity"] + (1 - rho) * tf.square(gradient)
        new = {"velocity": velocity}
        if self.centered:
            average = rho * slots["average_gradient"] + (1 - rho) * gradient
            new["average_gradient"] = average
            denominator = velocity - tf.square(average) + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = (lr * gradient) / tf.sqrt(denominator)
        if self.momentum > 0:
            new["momentum"] = increment = self.momentum * slots["momentum"] + increment
        return variable - increment, new

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adam(Optimizer):
    """Adam, optionally AMSGrad, as `keras.optimizers.Adam`.

    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`, then
    `w -= m * alpha / (sqrt(v) + epsilon)` with the bias correction folded into
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, `t = iterations + 1`.
    AMSGrad uses `v_hat = max(v_hat, v)` in place of `v`.

    Args:
        learning_rate: > 0.
        beta_1: in [0, 1), decay of the gradient average.
        beta_2: in [0, 1), decay of the squared-gradient average.
        epsilon: > 0, added after the square root (and after bias correction).
        amsgrad: use the running maximum of `v`.
        name: module name (a Python identifier).

    Raises:
        ConfigError: a hyperparameter is out of range.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name=None,
    ):
        super().__init__(learning_rate, name)
        self.beta_1 = _check_number("Adam", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number("Adam", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number(
            "Adam", "epsilon", epsilon, 0.0, math.inf, low_open=True
        )
        self.amsgrad = _check_bool("Adam", "amsgrad", amsgrad)

    def _slot_specs(self):
        specs = {"momentum": 0.0, "velocity": 0.0}
        if self.amsgrad:
            specs["velocity_hat"] = 0.0
        return specs

    def _update_step(self, gradient, variable, slots, lr):
        dtype = variable.dtype
        step = tf.cast(self._iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["momentum"], slots["velocity"]
        m = m + (gradient - m) * (1 - self.beta_1)
        v = v + (tf.square(gradient) - v) * (1 - self.beta_2)
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new["velocity_hat"] = tf.maximum(slots["velocity_hat"], v)
        return variable - (m * alpha) / (tf.sqrt(v) + self.epsilon), new

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


# name -> (class, default keyword arguments); caller kwargs override the defaults.
_REGISTRY = {
    "sgd": (SGD, {}),
    "gd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
}
assert tuple(_REGISTRY) == OPTIMIZERS


def get_optimizer(name_or_optimizer, **kwargs):
    """Returns an optimizer by name, or passes an `Optimizer` instance through.

    Args:
        name_or_optimizer: one of `OPTIMIZERS` (case-insensitive): "sgd"/"gd",
            "momentum" (SGD, momentum=0.9), "nesterov" (SGD, momentum=0.9,
            nesterov=True), "adagrad", "rmsprop", "adam"; or an `Optimizer`.
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
