"""`Optimizer`: the base class that owns the learning rate (a number or a schedule), the
step counter and the slot variables, and runs the life cycle (`build`, `apply` with its
gradient clipping, decoupled weight decay and NaN guard, `get_config`). See
`lowtf.optimizers` for the contract.
"""

import math

import numpy as np
import tensorflow as tf

from lowtf.optimizers.checks import (
    _check_kwargs,
    _check_names,
    _check_number,
    _config_error,
    _rate_or_schedule,
)
from lowtf.optimizers.clipping import GradientClipping
from lowtf.optimizers.learning_rate import LearningRate


def _variable_name(variable):
    return getattr(variable, "name", repr(variable))


def _times_zeros(t):
    """The sum of `t`'s elements times zero: 0, or NaN if one is NaN or infinite."""
    t = tf.convert_to_tensor(t)
    rows = tf.reshape(t, [-1, t.shape[-1]]) if t.shape.rank else tf.reshape(t, [1, 1])
    products = tf.linalg.matvec(rows, tf.zeros([rows.shape[1]], t.dtype))
    return tf.reduce_sum(products)


class Optimizer(LearningRate, tf.Module):
    """Base class: owns the learning rate, the step counter and the slot variables.

    Subclasses define `_slot_specs` (which slots each variable gets) and
    `_update_step` (the update of one variable), and add their hyperparameters
    to `get_config`.

    Each update first clips the gradients (at most one of `clipnorm`,
    `global_clipnorm`, `clipvalue`, as the Keras arguments of those names), then
    (AdamW, SGDW) decays the weights, `w -= w * weight_decay * lr`, then applies
    the subclass's step to the decayed weights, as Keras does.

    Args:
        learning_rate: a number > 0, or a schedule (`lowtf.optimizers.schedules`, or
            its `get_config()` dict): the rate of each update is
            `schedule(iterations) * learning_rate_scale`.
        name: module name, a Python identifier; defaults to the class name.
        clipnorm: clip each gradient to this L2 norm (`tf.clip_by_norm`).
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: scale all gradients together so their global L2 norm is at
            most this (`tf.clip_by_global_norm`).

    Raises:
        ConfigError: an argument is invalid, or more than one clipping is given.

    Attributes:
        learning_rate: float32 `tf.Variable`. With a number: read it, `.assign()` to
            it, or set `optimizer.learning_rate = x` (which assigns, so traced
            functions see the new value). With a schedule it is written by every
            update and reads the rate of the last update (before the first one,
            the rate of the first); change the rate with `scale_learning_rate`.
        learning_rate_scale: with a schedule, a float32 `tf.Variable` (in the
            checkpoint) multiplying its rates, 1.0 at first; None otherwise.
        iterations: int64 `tf.Variable`, the number of `apply` calls so far.
    """

    def __init__(self, learning_rate, name=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        owner = type(self).__name__
        schedule, learning_rate = _rate_or_schedule(learning_rate, owner)
        name = name or owner
        if not isinstance(name, str) or not name.isidentifier():
            raise _config_error(
                f"{owner}: name must be a Python identifier, got {name!r}"
            )
        self._clipping = GradientClipping(owner, clipnorm, clipvalue, global_clipnorm)
        self.weight_decay, self.exclude_from_weight_decay = None, ()
        super().__init__(name=name)
        self._schedule = schedule
        self._initial_learning_rate = learning_rate
        # ONLY_FIRST_REPLICA: when built under a strategy, one replica's
        # update of these counts for all.
        first_replica = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with self.name_scope:
            self._learning_rate = tf.Variable(
                learning_rate if schedule is None else schedule(0),
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
            if schedule is not None:
                # Created only with a schedule: checkpoints of constant-rate optimizers
                # keep their keys.
                self._learning_rate_scale = tf.Variable(
                    1.0,
                    dtype=tf.float32,
                    trainable=False,
                    name="learning_rate_scale",
                    aggregation=first_replica,
                )
        self._slots = []  # one {slot name: tf.Variable} dict per built variable
        # Tuple of Variable.ref(): identifies the built variables without
        # tracking them (a tuple of non-trackables is stored as is).
        self._variable_refs = None
        self._decayed = ()  # per built variable: whether weight decay applies to it

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
        self._decayed = tuple(self._uses_weight_decay(v) for v in variables)
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
        lr = self._rate()  # read before iterations moves on
        if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
            strategy = tf.distribute.get_strategy()
            local = strategy.experimental_local_results
            for gradient, variable in zip(gradients, variables):
                self._check_gradient(local(gradient)[0], variable)
            # The gradients are all-reduced already: every device's copies are equal, so
            # the global norm is computed once, from the first device's.
            scale = self._clipping.global_scale([local(g)[0] for g in gradients], variables)
            if if_finite is not None:  # decided once, on the first device's copies
                if_finite = self._all_finite(if_finite, [
                    self._new_values(local(v)[0], local(g)[0], self._local_slots(v), lr,
                                     self._decays(v), scale)
                    for g, v in zip(gradients, variables)])
            for gradient, variable in zip(gradients, variables):
                # Runs the update on each device with that device's copies of the
                # variable, its slots and the (already all-reduced) gradient.
                strategy.extended.update(
                    variable, self._update_one,
                    args=(gradient, self._slots[self._index_of(variable)], lr,
                          self._decays(variable), scale, if_finite),
                    group=False)
        else:
            for gradient, variable in zip(gradients, variables):
                self._check_gradient(tf.convert_to_tensor(gradient), variable)
            scale = self._clipping.global_scale(gradients, variables)
            new = [self._new_values(v, g, self._slots[self._index_of(v)], lr,
                                    self._decays(v), scale)
                   for g, v in zip(gradients, variables)]
            if if_finite is not None:
                if_finite = self._all_finite(if_finite, new)
            self._assign([(variable, value, self._slots[self._index_of(variable)], slot_values)
                          for variable, (value, slot_values) in zip(variables, new)], if_finite)
        if self._schedule is not None:  # the rate of the last (applied) update
            self._learning_rate.assign(
                lr if if_finite is None else tf.where(if_finite, lr, self._learning_rate))
        if if_finite is None:
            self._iterations.assign_add(1)
            return None
        self._iterations.assign_add(tf.cast(if_finite, tf.int64))
        return if_finite

    @staticmethod
    def _all_finite(condition, new):
        """`condition` and every new value of every variable and slot finite.

        Each value times a zero vector, in a matrix-vector product: 0 x finite is 0 and
        0 x NaN or 0 x inf is NaN, so the sum is NaN exactly when some value is not
        finite. `reduce_all(is_finite)` said the same, but XLA's CPU reductions run one
        element at a time; the product runs in a vectorized kernel, and lowtf against a
        loss-only check went from 0.79x to 0.87x at batch 50 (AMD EPYC, 2 cores).
        """
        sums = [_times_zeros(t) for value, slot_values in new
                for t in (value, *slot_values.values())]
        return tf.logical_and(tf.convert_to_tensor(condition, tf.bool),
                              tf.math.is_finite(tf.add_n(sums)))

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

    def _decays(self, variable):
        return bool(self._decayed) and self._decayed[self._index_of(variable)]

    def _uses_weight_decay(self, variable):
        """Whether weight decay applies to `variable` (decided once, at `build`)."""
        if self.weight_decay is None or self.weight_decay == 0:
            return False
        return not any(part in variable.name for part in self.exclude_from_weight_decay)

    clipnorm = property(lambda self: self._clipping.settings.get("clipnorm"))
    clipvalue = property(lambda self: self._clipping.settings.get("clipvalue"))
    global_clipnorm = property(lambda self: self._clipping.settings.get("global_clipnorm"))

    def _new_values(self, variable, gradient, slots, lr, decay=False, scale=None):
        """`(new value, {slot: new value})` of one variable; assigns nothing.

        The gradient is clipped, the weight decayed (`w - w * weight_decay * lr`, as
        Keras's `_apply_weight_decay`), then the subclass's step applied to the result.
        """
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        gradient = self._clipping.clip(gradient, scale)
        lr = tf.cast(lr, variable.dtype)
        if decay:
            variable = variable - variable * tf.cast(self.weight_decay, variable.dtype) * lr
        return self._update_step(gradient, variable, slots, lr)

    def _update_one(self, variable, gradient, slots, lr, decay, scale, if_finite=None):
        value, slot_values = self._new_values(variable, gradient, slots, lr, decay, scale)
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

        The learning rate is the variable's current value (call eagerly), or the
        schedule's `get_config()`. Clipping appears only when set, so the configs
        (recorded in checkpoints) of runs without it are as they were.
        """
        if self._schedule is not None:
            learning_rate = self._schedule.get_config()
        else:
            learning_rate = float(self._learning_rate.numpy())
            if np.float32(self._initial_learning_rate) == np.float32(learning_rate):
                learning_rate = self._initial_learning_rate  # 0.01, not 0.009999999776
        return {"name": self.name, "learning_rate": learning_rate,
                **self._clipping.settings}

    def _set_weight_decay(self, weight_decay, exclude_from_weight_decay):
        """Turns on decoupled weight decay (AdamW, SGDW); call in `__init__`."""
        owner = type(self).__name__
        self.weight_decay = _check_number(owner, "weight_decay", weight_decay, 0.0, math.inf)
        self.exclude_from_weight_decay = _check_names(owner, exclude_from_weight_decay)

    def _weight_decay_config(self):
        return {"weight_decay": self.weight_decay,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay)}

    @classmethod
    def from_config(cls, config):
        """Creates an optimizer from a `get_config` dict.

        Raises:
            ConfigError: `config` has keys this class does not accept, or bad values.
        """
        _check_kwargs(cls, config, f"{cls.__name__}.from_config")
        return cls(**config)
