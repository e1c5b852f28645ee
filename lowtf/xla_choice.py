"""`xla=None`: time the training step both ways on the first call, keep the faster.

XLA's CPU kernels win on small dense networks and lose badly on others: a small CNN ran
23x slower compiled on a CPU, with nothing to say so. So the step loop (over resident
data, or over a `tf.data` pipeline's buffered batches) is built twice, with
`jit_compile=True` and as a plain graph. Before the run's first step, each
runs one warm-up call (compiling and tracing are not timed), then they alternate for up
to `ROUNDS` timed calls of a few steps; the faster per step is kept for the whole run.

The timed steps are trial runs: every variable of the loop (weights, optimizer slots,
metrics, loop state, a model's random generator) is copied before and put back after
each trial call (all of them start at the run's first step, within its epoch),
so the run's numbers come from one kind of loop only, and the choice is recorded in the
checkpoint (`record`): a resumed run takes the same path without measuring again.

If XLA cannot compile the step (an op without an XLA kernel), the plain graph is used
and a warning says why. With `measure=False` (deterministic mode, where two runs must
agree bit for bit and no timing may decide) the loop is XLA unless it cannot compile.
"""

import time
import warnings

import tensorflow as tf

ROUNDS = 3            # timed calls of each kind, at most
STEPS_PER_ROUND = 8   # training steps in each timed call, at most
CLEAR_WINNER = 2.0    # after one round, a ratio this large decides at once


class XlaChoice:
    """Chooses between the XLA and the plain-graph loop on the run's first call.

    Args:
        make_fn: `make_fn(jit_compile) -> tf.function(steps, *args)` training `steps` steps.
        variables: every variable a training step changes (copied and restored).
        record: an int64 `tf.Variable` in the checkpoint: -1 undecided, 1 XLA, 0 graph.
        measure: time both loops (True), or use XLA unless it cannot compile (False).
        room: `fn()`, how many steps the trial calls may take after the warm-up ones
            without reading new data (a `tf.data` loop's buffered batches); None: any.
    """

    def __init__(self, make_fn, variables, record, measure=True, room=None):
        self._make_fn, self._variables, self._record = make_fn, variables, record
        self._measure, self._room = measure, room
        self.fns = {}
        self.decision = self.chosen = None

    def loop_fn(self, jit):
        if jit not in self.fns:
            self.fns[jit] = self._make_fn(jit)
        return self.fns[jit]

    def run(self, steps, *args):
        """Runs `steps` training steps with the chosen loop, choosing it first if need be;
        `args` follow the step count (a `tf.data` loop's iterator)."""
        if self.decision is None:
            self._decide(steps, args)
        try:
            self.chosen(tf.constant(steps, tf.int32), *args)
        except tf.errors.InvalidArgumentError as e:
            if not self._cannot_compile(e):
                raise
            self.chosen(tf.constant(steps, tf.int32), *args)

    def _decide(self, steps, args):
        recorded = int(self._record.numpy())
        if recorded >= 0:
            self._keep(bool(recorded), "recorded in the run")
        elif not self._measure:
            self._keep(True, "deterministic mode")
        else:
            self._time_both(min(steps, STEPS_PER_ROUND), args)

    def _keep(self, use_xla, why, **facts):
        self.chosen = self.loop_fn(use_xla)
        self.decision = {"xla": use_xla, "why": why, **facts}

    def _cannot_compile(self, error):
        """True (and the plain graph chosen, with a warning) for an XLA compile failure."""
        if self.decision is None or not self.decision["xla"] or "compile" not in str(error):
            return False
        self._fall_back(error)
        self._record.assign(0)
        return True

    def _fall_back(self, error):
        warnings.warn(f"XLA cannot compile this training step ({str(error).splitlines()[0]}); "
                      "running it without XLA", stacklevel=7)
        self._keep(False, "XLA cannot compile the step")

    def _time_both(self, steps, args):
        saved = [v.read_value() for v in self._variables]

        def put_back():  # every trial call starts where the run is
            for variable, value in zip(self._variables, saved):
                variable.assign(value)

        seconds = {True: [], False: []}
        try:
            for jit in (True, False):  # warm-up: compile and trace, untimed
                self.loop_fn(jit)(tf.constant(1, tf.int32), *args)
                put_back()
            if self._room is not None:
                steps = min(steps, int(self._room()))
            for _ in range(ROUNDS if steps > 0 else 0):  # no data: nothing to time
                for jit in (True, False):
                    start = time.perf_counter()
                    self.loop_fn(jit)(tf.constant(steps, tf.int32), *args)
                    seconds[jit].append((time.perf_counter() - start) / steps)
                    put_back()
                ratio = max(seconds[True][-1], seconds[False][-1]) / max(
                    min(seconds[True][-1], seconds[False][-1]), 1e-12)
                if ratio >= CLEAR_WINNER:
                    break
        except tf.errors.InvalidArgumentError as e:
            if "compile" not in str(e) or seconds[True]:
                raise
            self._fall_back(e)
        finally:
            put_back()
        if self.decision is None and not seconds[True]:
            self._keep(True, "no data to time")
        elif self.decision is None:
            xla, graph = min(seconds[True]), min(seconds[False])
            self._keep(xla <= graph, "measured",
                       ms_per_step={"xla": xla * 1e3, "graph": graph * 1e3})
        self._record.assign(int(self.decision["xla"]))


def describe(decision):
    """One line for the log: what the loop runs with, and why."""
    if not decision:
        return "XLA: undecided"
    if decision["why"] == "measured":
        ms = decision["ms_per_step"]
        faster, slower = ("xla", "graph") if decision["xla"] else ("graph", "xla")
        return (f"XLA {'on' if decision['xla'] else 'off'}: measured {ms['xla']:.2f} ms/step "
                f"compiled vs {ms['graph']:.2f} ms/step plain graph "
                f"({ms[slower] / max(ms[faster], 1e-9):.1f}x)")
    return f"XLA {'on' if decision['xla'] else 'off'} ({decision['why']})"
