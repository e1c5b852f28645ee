"""The step loop: model, optimizer, metrics and loop state, and `train(n)`.

`train(n)` runs `n` training steps in one traced call (a `tf.function`, traced once per
run): each step a `tf.GradientTape` forward/backward pass and an optimizer update that is
applied only if the loss and every new weight are finite. The loop knows nothing of
files, consoles or epochs; the controller (`lowtf.trainer`) decides what to run when.
Everything stateful is a `tf.Variable` created once, under the strategy's scope.
"""

import math

import tensorflow as tf

from lowtf import precision
from lowtf.batch_buffer import BatchBuffer, buffer_spec
from lowtf.determinism import is_deterministic
from lowtf.ema import WeightAverage
from lowtf.evaluation import make_metrics, update_metrics
from lowtf.inputs import to_model_input
from lowtf.metrics import Mean
from lowtf.models import call_model
from lowtf.step_scalars import StepScalars
from lowtf.techniques import DynamicLossScale, Techniques, l2_penalty, micro_batches
from lowtf.xla_choice import XlaChoice
from lowtf.xla_share import shared_if_compiled


class LoopState(tf.Module):
    """Checkpointed loop state: where the run is, its best score, and its config."""

    def __init__(self):
        super().__init__(name="state")
        var = lambda value, dtype, name: tf.Variable(  # noqa: E731
            value, dtype=dtype, trainable=False, name=name)
        self.step = var(0, tf.int64, "step")          # training steps applied so far
        self.epoch = var(0, tf.int64, "epoch")        # epochs completed
        self.position = var(0, tf.int64, "position")  # steps done in the current epoch
        self.bad_step = var(0, tf.int64, "bad_step")  # step whose loss was not finite
        self.best = var(math.nan, tf.float32, "best")  # the monitored metric's best value
        self.skipped = var(0, tf.int64, "skipped")    # non-finite steps skipped (skip mode)
        self.xla = var(-1, tf.int64, "xla")            # xla=None's choice: -1 not yet, 1, 0
        self.config = var("{}", tf.string, "config")


class StepLoop(tf.Module):
    """The traced training loop over a feed of batches (`lowtf.feeds`).

    Args:
        model: the model (`lowtf.models`); its variables exist already.
        loss_fn: `fn(labels, outputs) -> [batch]` per-example losses.
        optimizer: a built `lowtf` optimizer.
        metrics: metric names or objects, updated on applied steps only.
        strategy: the `tf.distribute.Strategy` whose scope holds the variables.
        techniques: `lowtf.techniques.Techniques` (L2, accumulation, EMA, precision).
    """

    def __init__(self, model, loss_fn, optimizer, metrics, strategy, techniques=None):
        super().__init__(name="loop")
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.strategy = strategy
        self.techniques = techniques = techniques or Techniques()
        with strategy.scope():
            self.metrics = make_metrics(metrics)
            if techniques.l2:
                self.metrics["l2_loss"] = Mean("l2_loss")
            self.ema = techniques.ema and WeightAverage(model.trainable_variables,
                                                        techniques.ema)
            self.loss_scale = precision.POLICIES[techniques.precision] == tf.float16 and \
                DynamicLossScale()
            self.scalars = StepScalars()
            # The update's global norm, kept at every `log_every`-th step for TensorBoard.
            self.gradient_norm = tf.Variable(
                math.nan, trainable=False, name="gradient_norm",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.MEAN)
        # Loop state is host-side bookkeeping, updated in cross-replica context only.
        self.state = LoopState()
        self.skip_nonfinite = False  # read when the loop is traced
        self.log_every = None  # keep the gradient norm at steps that are multiples of this
        self.traces = 0
        self.feed = self._fn = self._choice = self._buffer = None
        self.xla = None  # what the step loop runs with: {"xla": bool, "why": ...}

    # ---- one step -------------------------------------------------------------------
    def _replica_step(self, x, y):
        """One training step on one replica's share of the global batch.

        Gradients and the loss are summed over replicas (each is already divided by the
        global batch size), so every replica sees the same values and takes the same
        decision: apply the update, or refuse it because the loss, a gradient or a new
        weight or slot value is not finite. How a kernel treats NaN (a fused oneDNN
        matmul+ReLU can turn a NaN input into a finite loss) cannot sneak a NaN into the
        weights: the optimizer checks the values it is about to write. The metrics count
        only applied steps. Returns whether the loop goes on (False: stop at this step).
        """
        x = to_model_input(x)
        k = self.techniques.accumulate
        with precision.using(self.techniques.precision), self.scalars.recording():
            if k == 1:
                parts = [self._gradients(x, y, None, with_l2=True)]
            else:  # one update from k micro-batches, each weighted by the whole batch
                total = tf.cast(tf.shape(x)[0] * tf.distribute.get_replica_context()
                                .num_replicas_in_sync, tf.float32)
                parts = [self._gradients(xj, yj, total, with_l2=j == 0)
                         for j, (xj, yj) in enumerate(micro_batches(x, y, k))]
        grads = parts[0][0] if k == 1 else [tf.add_n(g) for g in zip(*(p[0] for p in parts))]
        loss = tf.add_n([p[1] for p in parts])
        if self.loss_scale:
            grads = [g / self.loss_scale.scale for g in grads]
        ctx = tf.distribute.get_replica_context()
        if ctx.num_replicas_in_sync > 1:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
        if self.log_every:
            self._keep_gradient_norm(grads)
        applied, go_on = ctx.merge_call(self._apply_update,
                                        args=(tf.math.is_finite(loss), grads))

        @tf.autograph.experimental.do_not_convert
        def count():
            own = {name: m for name, m in self.metrics.items() if name != "l2_loss"}
            for _, _, labels, outputs, per_example, _ in parts:
                update_metrics(own, labels, outputs, per_example)
            if self.techniques.l2:
                self.metrics["l2_loss"].update_state(parts[0][5])
            return tf.constant(True)

        tf.cond(applied, count, lambda: tf.constant(False))
        return go_on

    def _keep_gradient_norm(self, grads):
        """Assigns the global norm of `grads` (before any clipping) at the steps whose
        number will be a multiple of `log_every`: only there is it computed."""
        due = tf.equal((self.state.step + 1) % self.log_every, 0)

        def keep():
            self.gradient_norm.assign(tf.linalg.global_norm(grads))
            return tf.constant(True)

        tf.cond(due, keep, lambda: tf.constant(False))

    def _gradients(self, x, y, total, with_l2):
        """`(gradients, objective, y, float32 outputs, per-example losses, l2 term)` of one
        (micro-)batch; the objective is the mean loss over `total` examples of all
        replicas (None: this batch's), plus the L2 term when `with_l2`."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = precision.to_float32(call_model(self.model, x, training=True))
            per_example = self.loss_fn(y, outputs)
            if total is None:
                objective = tf.nn.compute_average_loss(per_example)
            else:
                objective = tf.reduce_sum(per_example) / total
            l2 = None
            if with_l2 and self.techniques.l2:
                l2 = l2_penalty(variables, self.techniques.l2)
                objective += tf.nn.scale_regularization_loss(l2)
            scaled = objective * self.loss_scale.scale if self.loss_scale else objective
        return tape.gradient(scaled, variables), objective, y, outputs, per_example, l2

    @tf.autograph.experimental.do_not_convert
    def _apply_update(self, strategy, finite_loss, grads):
        """Cross-replica: the update and the step count, or a record of the refused step.

        Returns `(applied, go_on)`: whether the update was applied, and whether the loop
        goes on (a refused step stops it unless non-finite steps are skipped)."""
        finite_loss = strategy.experimental_local_results(finite_loss)[0]
        applied = self.optimizer.apply(grads, self.model.trainable_variables,
                                       if_finite=finite_loss)

        def update():
            self.state.step.assign_add(1)
            self.state.position.assign_add(1)
            if self.ema:
                self.ema.update()
            if self.loss_scale:
                self.loss_scale.applied()
            return tf.constant(True)

        def skip():
            if self.loss_scale:  # float16 overflowed: a smaller scale, the next batch
                return tf.cond(finite_loss, self._overflowed, self._refused)
            return self._refused()

        return applied, tf.cond(applied, update, skip)

    def _overflowed(self):
        self.loss_scale.overflowed()
        self.state.position.assign_add(1)
        return tf.constant(True)

    def _refused(self):
        if self.skip_nonfinite:  # drop this batch, count it and go on
            self.state.skipped.assign_add(1)
            self.state.position.assign_add(1)
            return tf.constant(True)
        self.state.bad_step.assign(self.state.step + 1)
        return tf.constant(False)

    # ---- n steps in one call ------------------------------------------------------------
    def _resident_replica_step(self, position):
        ctx = tf.distribute.get_replica_context()
        x, y = self.feed.batch(position, ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)
        return self._replica_step(x, y)

    def _applied(self, per_replica):
        return self.strategy.experimental_local_results(per_replica)[0]

    def _resident_loop(self, steps):
        self.traces += 1
        # `while i < steps`, not `for _ in tf.range(steps)`: AutoGraph gives a tf.range loop
        # `maximum_iterations=steps`, which XLA takes as a compile-time constant, so every
        # new `steps` (an epoch's shorter last call, a resume mid-epoch) compiled it again.
        i = tf.constant(0)
        while i < steps:
            applied = self.strategy.run(self._resident_replica_step,
                                        args=(self.state.position.read_value(),))
            if not self._applied(applied):
                break
            i += 1

    def _dataset_loop(self, steps, iterator):
        self.traces += 1
        for _ in tf.range(steps):
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            applied = self.strategy.run(self._replica_step, args=batch.get_value())
            if not self._applied(applied):
                break

    def _buffered_steps(self, steps):
        """Up to `steps` steps on the buffered batches; returns whether the loop goes on."""
        i, go_on = tf.constant(0), tf.constant(True)
        while i < steps and go_on:
            go_on = self._applied(self.strategy.run(self._replica_step,
                                                    args=self._buffer.take()))
            i += 1
        return go_on

    def _buffered_loop(self, steps, iterator, run_steps):
        """`steps` steps from a `tf.data` iterator of chunks, `run_steps` (compiled or
        not) training on each chunk's batches (`lowtf.batch_buffer`)."""
        self.traces += 1
        done = tf.constant(0)
        while done < steps:
            if self._buffer.left() <= 0:
                chunk = iterator.get_next_as_optional()
                if not chunk.has_value():
                    break
                self._buffer.fill(chunk.get_value())
            n = tf.minimum(self._buffer.left(), steps - done)
            if not run_steps(n):
                break
            done += n

    def _resident_fn(self, jit_compile):
        """The resident loop as a `tf.function` of its step count (an int32 scalar); compiled,
        it is shared with earlier trainers of the same loop (`lowtf.xla_share`)."""
        fn = tf.function(self._resident_loop, input_signature=[tf.TensorSpec([], tf.int32)],
                         jit_compile=jit_compile)
        return shared_if_compiled(fn, jit_compile)

    def _buffered_fn(self, jit_compile):
        """The buffered `tf.data` loop as a `tf.function` of `(steps, iterator)`; only the
        steps are compiled (an iterator's ops have no XLA kernels)."""
        run_steps = tf.function(self._buffered_steps, jit_compile=jit_compile)
        return tf.function(lambda steps, iterator: self._buffered_loop(steps, iterator,
                                                                       run_steps))

    def build(self, feed, xla=None, skip_nonfinite=False):
        """Prepares the traced loop for `feed`.

        `xla`: compile the step loop with XLA (True), not (False), or None: on one device,
        time both on the first call and keep the faster (`XlaChoice`; in deterministic
        mode XLA, so two runs agree). With several replicas no XLA (collectives do not
        compile on CPU), nor for a `tf.data` pipeline whose batches vary in shape.
        """
        self.feed, self.skip_nonfinite, self._choice = feed, bool(skip_nonfinite), None
        self._buffer = None
        with self.strategy.scope():
            self._discover_scalars()
        replicas = self.strategy.num_replicas_in_sync
        make_fn, keep = self._resident_fn, ()
        if not feed.resident:
            spec = replicas == 1 and not feed.per_replica and buffer_spec(feed.element_spec)
            if not spec:
                self._fn = tf.function(self._dataset_loop)
                self.xla = {"xla": False, "why": f"tf.data over {replicas} replicas"
                            if replicas > 1 else "tf.data batches of varying shape"}
                return
            with self.strategy.scope():
                self._buffer = BatchBuffer(spec)
            make_fn, keep = self._buffered_fn, (self._buffer.offset,)
        if xla is None and replicas == 1:
            self._choice = XlaChoice(make_fn, self.variables + keep, self.state.xla,
                                     measure=not is_deterministic(),
                                     room=self._buffer and self._buffer.left)
            self._fn, self.xla = None, None
            return
        self._fn = make_fn(jit_compile=bool(xla))
        self.xla = {"xla": bool(xla), "why": "forced" if xla is not None else
                    f"{replicas} replicas"}

    def _discover_scalars(self):
        """Creates a variable per `lt.log_scalar` name the step logs (`lowtf.step_scalars`),
        from a trace of the forward pass on the feed's batch signature (no data is read)."""
        feed = self.feed
        if feed.resident:
            specs = [tf.TensorSpec([None, *t.shape[1:]], t.dtype) for t in (feed.x, feed.y)]
        else:
            specs = list(feed.element_spec)

        def forward(x, y):
            with precision.using(self.techniques.precision):
                outputs = precision.to_float32(
                    call_model(self.model, to_model_input(x), training=True))
                self.loss_fn(y, outputs)

        self.scalars.discover(lambda x, y: self.strategy.run(forward, args=(x, y)), *specs)

    def train(self, steps, iterator=None):
        """Runs up to `steps` training steps (fewer if a step is refused or data runs out)."""
        args = () if self.feed.resident else (iterator,)
        if self._choice is not None:
            self._choice.run(steps, *args)
            self.xla = self._choice.decision
        else:
            self._fn(tf.constant(steps, tf.int32), *args)

    def iterator(self, epoch, position):
        """An iterator over the epoch's batches from `position` on, split over replicas
        (in chunks, when they are buffered)."""
        feed = self.feed
        if self._buffer:
            self._buffer.reset()
            return iter(self._buffer.chunks_of(feed, epoch, position))
        if self.strategy.num_replicas_in_sync == 1:
            return iter(feed.dataset(epoch, position))
        if feed.per_replica:
            return iter(self.strategy.distribute_datasets_from_function(
                lambda context: feed.make_dataset(epoch)(context).skip(position)))
        return iter(self.strategy.experimental_distribute_dataset(
            feed.dataset(epoch, position)))

    def concrete_function(self):
        """The traced training loop (for TensorBoard's graph)."""
        fn = self._fn or self._choice.chosen or self._choice.loop_fn(True)
        if self.feed.resident:
            return fn.get_concrete_function(tf.constant(1))
        iterator = iter(self._buffer.chunks_of(self.feed, 0, 0) if self._buffer
                        else self.feed.dataset(0, 0))
        return fn.get_concrete_function(tf.constant(1), iterator)

    @tf.function
    def gradients(self, x, y):
        """The gradients of the mean loss on one batch (for histograms)."""
        with tf.GradientTape() as tape:
            outputs = call_model(self.model, to_model_input(x), training=True)
            loss = tf.reduce_mean(self.loss_fn(y, outputs))
        return tape.gradient(loss, self.model.trainable_variables)
