"""The learning-rate range test ("LR finder", Smith 2017; fastai's `lr_find`).

    result = lt.lr_finder.find_learning_rate(lt.dnn(784, (300, 100), 10), (x, y),
                                             optimizer="momentum", run_dir="logs/lr_find")
    result.suggested     # e.g. 0.03: a starting point for learning_rate

One short training run whose learning rate grows by a constant factor every step
(`optimizer.schedules.ExponentialRamp`, from `start` to `end` over `steps`), recording the
loss of every step. The loss is the training batch's own mean loss (the loss metric is
reset after every step, so it is exact, not an epoch average), smoothed by a
bias-corrected exponential moving average as fastai does. The run stops when the
smoothed loss exceeds `diverge` times its best, when a loss or update is not finite, or
after `steps` steps.

The suggestion is the rate where the smoothed loss falls fastest (the steepest negative
slope against log(rate), between the first tenth of the points and the minimum),
fastai's "steep" rule; `min_loss_rate / 10` (`result.min_loss_rate`) is the other common
rule. Neither is more than a starting point: the moving average lags the rate by about
1 / (1 - smoothing) steps, so on easy data both lean high.

The caller's model is left as it was: a model instance is trained in place and its
variables are restored afterwards (a zero-argument builder gets a fresh model). The
optimizer (a name or an instance, whose settings are copied) is rebuilt around the ramp.
"""

import dataclasses
import glob
import io
import json
import math
import os

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError, NonFiniteLossError, check_count
from lowtf.optimizers import Optimizer, get_optimizer
from lowtf.optimizers.schedules import ExponentialRamp

RESULT_FILE, PLOT_FILE = "lr_finder.json", "lr_finder.png"


@dataclasses.dataclass
class LRFinderResult:
    """What the range test recorded.

    Attributes:
        rates: the learning rate of each recorded step (increasing).
        losses: the smoothed loss after each step (what the suggestion and the plot use).
        raw_losses: each step's own batch loss.
        suggested: the rate of the steepest descent of the smoothed loss (None when fewer
            than 3 steps were recorded).
        min_loss_rate: the rate of the lowest smoothed loss.
        stop_reason: why the run ended.
        run_dir: where the TensorBoard events, `lr_finder.json` and `lr_finder.png` are
            (None: nothing was written).
    """

    rates: list
    losses: list
    raw_losses: list
    suggested: float
    min_loss_rate: float
    stop_reason: str
    run_dir: str = None

    @property
    def plot_path(self):
        return None if self.run_dir is None else os.path.join(self.run_dir, PLOT_FILE)

    def plot(self, path):
        """Saves the curve (smoothed and raw loss against the rate, log x-axis) as a PNG."""
        self._figure().savefig(os.fspath(path), dpi=100)
        return os.fspath(path)

    def _figure(self):
        """The curve in `lowtf.figures`' colour-blind-safe colours: the smoothed loss
        blue, the suggestion a dashed vermillion line, the batch losses grey."""
        from lowtf import figures

        figure = figures.new_figure(7, 4.5)
        ax = figure.add_subplot()
        ax.plot(self.rates, self.raw_losses, color="0.7", linewidth=0.8, label="batch loss")
        ax.plot(self.rates, self.losses, color=figures.BLUE, label="smoothed loss")
        if self.suggested:
            ax.axvline(self.suggested, color=figures.VERMILLION, linestyle="--",
                       label=f"suggested {self.suggested:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss")
        finite = [v for v in self.losses + self.raw_losses if math.isfinite(v)]
        if finite:  # the divergence at the end would flatten the interesting part
            low, first = min(finite), self.losses[0]
            ax.set_ylim(low - 0.05 * abs(low), max(first, low) * 1.5 + 1e-12)
        ax.set_title("learning-rate range test")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        figure.tight_layout()
        return figure

    def png_bytes(self):
        buffer = io.BytesIO()
        self._figure().savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


class _Done(Exception):
    """Ends the range test's training from inside its action."""


def _recorder(smoothing, diverge, steps, record):
    from lowtf.actions.base import Action

    class Recorder(Action):
        """Reads each step's batch loss (the loss metric, reset after every step)."""

        def __init__(self):
            super().__init__(every_steps=1, name="lr_finder")
            self.average, self.best, self.count = 0.0, math.inf, 0

        def on_steps(self, run, logs):
            loss = logs["loss"]
            for metric in run.train_metrics.values():
                metric.reset_state()  # the next step's result is that step's alone
            rate = float(run.optimizer.learning_rate.numpy())  # the rate of this update
            if not math.isfinite(loss):
                raise _Done(f"the loss became {loss} at rate {rate:.3g}")
            self.count += 1
            self.average = smoothing * self.average + (1 - smoothing) * loss
            smoothed = self.average / (1 - smoothing ** self.count)
            record(rate, smoothed, loss)
            self.best = min(self.best, smoothed)
            if smoothed > diverge * self.best:
                raise _Done(f"the smoothed loss {smoothed:.4g} exceeded {diverge:g} x its "
                            f"best {self.best:.4g} at rate {rate:.3g}")
            if self.count >= steps:
                raise _Done(f"{steps} steps done")

    return Recorder()


def _optimizer_with(optimizer, ramp):
    if isinstance(optimizer, Optimizer):
        return type(optimizer).from_config({**optimizer.get_config(),
                                            "learning_rate": ramp.get_config()})
    return get_optimizer(optimizer, learning_rate=ramp)


def suggest(rates, losses):
    """`(steepest-descent rate, min-loss rate)` of a smoothed loss curve."""
    rates, losses = np.asarray(rates, float), np.asarray(losses, float)
    if len(rates) == 0:
        return None, None
    lowest = int(np.nanargmin(losses))
    min_loss_rate = float(rates[lowest])
    # The first points are skipped, as fastai's plot does: the average of a few noisy
    # batches, bias-corrected, swings most there.
    skip = max(5, len(rates) // 10)
    if lowest - skip < 2:
        return None, min_loss_rate
    slopes = np.gradient(losses[skip:lowest + 1], np.log(rates[skip:lowest + 1]))
    return float(rates[skip + int(np.argmin(slopes))]), min_loss_rate


def find_learning_rate(model, train, loss="sparse_softmax_cross_entropy", optimizer="sgd",
                       start=1e-6, end=1.0, steps=200, batch_size=50, run_dir=None,
                       smoothing=0.98, diverge=4.0, seed=0, xla=False, verbose=1):
    """Runs the learning-rate range test and returns an `LRFinderResult`.

    Args:
        model: a model (restored to its weights afterwards) or a zero-argument builder.
        train: `(x, y)` arrays or a Dataset of batches, as `Trainer.fit` takes them.
        loss: as `Trainer`.
        optimizer: a name (`lowtf.optimizers.OPTIMIZERS`) or an `Optimizer` whose settings
            (not its state) are reused; its learning rate is replaced by the ramp.
        start, end: the first and last learning rates (0 < start < end).
        steps: the most steps (the ramp reaches `end` at the last one); 100-300 is usual.
        batch_size: for array data; use the batch size you will train with.
        run_dir: where to write TensorBoard scalars `lr_finder/loss` (smoothed),
            `lr_finder/raw_loss` and `lr_finder/learning_rate` (step: the step index), the
            image `lr_finder/curve`, and `lr_finder.json` and `lr_finder.png`; None writes
            nothing. A finder's earlier event files there are replaced.
        smoothing: the moving average's decay, in [0, 1) (0: no smoothing).
        diverge: stop when the smoothed loss exceeds this many times its best (> 1).
        seed: the shuffle seed.
        xla: compile the step with XLA.
        verbose: print the suggestion.

    Raises:
        ConfigError: a bad argument.
    """
    steps = check_count("steps", steps)
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0 < value < math.inf:
            raise ConfigError(f"find_learning_rate: {name} must be a number > 0, got {value!r}")
    if not start < end:
        raise ConfigError(f"find_learning_rate: start ({start}) must be below end ({end}); "
                          "e.g. start=1e-6, end=1")
    if steps < 2:
        raise ConfigError(f"find_learning_rate: steps must be at least 2, got {steps}")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or \
            not 0 <= smoothing < 1:
        raise ConfigError(f"find_learning_rate: smoothing must be in [0, 1), got {smoothing!r}")
    if isinstance(diverge, bool) or not isinstance(diverge, (int, float)) or not diverge > 1:
        raise ConfigError(f"find_learning_rate: diverge must be a number > 1, got {diverge!r}")
    from lowtf.trainer import Trainer

    ramp = ExponentialRamp(start, end, steps - 1)
    snapshot = None  # a built model (as `lowtf.models.build_model` tells them apart)
    if not callable(model) or hasattr(model, "trainable_variables"):
        snapshot = [(v, v.numpy()) for v in
                    (getattr(model, "variables", None) or model.trainable_variables)]
    rates, losses, raw = [], [], []

    def record(rate, smoothed, loss):
        rates.append(rate)
        losses.append(smoothed)
        raw.append(loss)

    reason = None
    try:
        trainer = Trainer(model, loss=loss, optimizer=_optimizer_with(optimizer, ramp),
                          metrics=(), run_dir=None, seed=seed, xla=xla, steps_per_call=1,
                          histograms=False, verbose=0)
        try:
            trainer.fit(train, epochs=steps, batch_size=batch_size, resume=False,
                        actions=[_recorder(smoothing, diverge, steps, record)])
            reason = "the data ran out"
        except _Done as done:
            reason = str(done)
        except NonFiniteLossError:
            reason = f"the loss or an update became NaN/Inf after {len(rates)} steps"
    finally:
        for variable, value in snapshot or ():
            variable.assign(value)
    suggested, min_loss_rate = suggest(rates, losses)
    result = LRFinderResult(rates, losses, raw, suggested, min_loss_rate, reason,
                            None if run_dir is None else os.fspath(run_dir))
    if run_dir is not None:
        _write(result)
    if verbose:
        where = f"; curve in {result.plot_path}" if run_dir is not None else ""
        if suggested is None:
            print(f"LR finder: too few steps recorded ({len(rates)}) to suggest a rate "
                  f"({reason}){where}")
        else:
            print(f"LR finder: suggested learning rate {suggested:.3g} (steepest descent; "
                  f"lowest loss at {min_loss_rate:.3g}); {len(rates)} steps, stopped: "
                  f"{reason}{where}")
    return result


def _write(result):
    run_dir = result.run_dir
    os.makedirs(run_dir, exist_ok=True)
    if os.path.exists(os.path.join(run_dir, RESULT_FILE)):  # an earlier finder's curves
        for old in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
            os.remove(old)
    writer = tf.summary.create_file_writer(run_dir)
    with writer.as_default():
        for step, (rate, smoothed, loss) in enumerate(zip(result.rates, result.losses,
                                                          result.raw_losses)):
            tf.summary.scalar("lr_finder/loss", smoothed, step=step)
            tf.summary.scalar("lr_finder/raw_loss", loss, step=step)
            tf.summary.scalar("lr_finder/learning_rate", rate, step=step)
        if result.rates:
            image = tf.image.decode_png(result.png_bytes(), channels=4)
            tf.summary.image("lr_finder/curve", image[None], step=len(result.rates) - 1)
    writer.close()
    if result.rates:
        result.plot(result.plot_path)
    with open(os.path.join(run_dir, RESULT_FILE), "w") as f:
        json.dump(dataclasses.asdict(result), f, indent=1)
