#!/usr/bin/env python
"""lowtf's and Keras's training of the reference MLP, as workers of `benchmarks/peer_speed.py`.

    --framework lowtf    lt.Trainer(...).fit((x_uint8, y)): resident data, XLA auto (lowtf's
                         default, as train_speed.py's `lowtf (XLA auto)`)
    --framework keras    keras.Sequential + model.fit(x_float32, y, shuffle=True) with
                         `--steps-per-execution` (as train_speed.py's `Keras spe=S`)

Both start from the weights in the data file. Runs in lowtf's own environment.
"""

import os
import sys
import time
import warnings

import lowtf as lt  # first: it keeps TensorFlow's start-up chatter quiet
import numpy as np

import worker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train_speed  # noqa: E402  (benchmarks/: Keras's compile and epoch timer)
from peer_speed import LOWTF_NAMES  # noqa: E402


def train_lowtf(args, x, y, weights):
    network = lt.dnn()
    network.set_weights(dict(zip(LOWTF_NAMES, weights)))
    trainer = lt.Trainer(network, optimizer=lt.optimizers.SGD(args.learning_rate), run_dir=None,
                         verbose=0, histograms=False, seed=args.seed)
    clock, train_epoch = worker.EpochClock(), trainer._train_epoch

    def timed_epoch(*a, **kw):  # CPU seconds of the epoch's training loop
        start = time.process_time()
        logs = train_epoch(*a, **kw)
        clock.cpu.append(time.process_time() - start)
        return logs

    trainer._train_epoch = timed_epoch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a "running without XLA" fallback notice
        history = trainer.fit((x, y), epochs=1 + args.epochs, batch_size=args.batch_size)
    clock.wall = list(history["epoch_time"])  # the epoch's training loop, begin to end
    final = trainer.model.get_weights()
    worker.report(clock, (len(x) // args.batch_size) * args.batch_size, history["loss"][-1],
                  [final[n] for n in LOWTF_NAMES], args.weights_out,
                  framework="lowtf", version=lt.__version__,
                  xla=bool((trainer.loop.xla or {}).get("xla", False)),
                  form="lt.Trainer.fit, uint8 resident, XLA auto")


def train_keras(args, x, y, weights):
    import keras
    import tensorflow as tf

    tf.random.set_seed(args.seed)  # model.fit's shuffling
    model = keras.Sequential([keras.Input((x.shape[1],))] + [
        keras.layers.Dense(k.shape[1], activation="relu" if i < 2 else None)
        for i, k in enumerate(weights[0::2])])
    model.set_weights(weights)
    train_speed.keras_compile(model, args.steps_per_execution)
    timer = train_speed.EpochTimer()
    x = x.astype(np.float32) / np.float32(255)
    history = model.fit(x, y, batch_size=args.batch_size, epochs=1 + args.epochs, shuffle=True,
                        verbose=0, callbacks=[timer])
    clock = worker.EpochClock()
    clock.wall, clock.cpu = timer.times, timer.cpu
    worker.report(clock, len(x), history.history["loss"][-1], model.get_weights(),
                  args.weights_out, framework="keras", version=keras.__version__,
                  tensorflow=tf.__version__, steps_per_execution=args.steps_per_execution,
                  xla=bool(model.jit_compile),
                  form=f"keras model.fit, float32 in memory, steps_per_execution="
                       f"{args.steps_per_execution}")


def options(p):
    p.add_argument("--framework", choices=("lowtf", "keras"), required=True)
    p.add_argument("--steps-per-execution", type=int, default=100, help="Keras only")


def main():
    args = worker.parse_args(__doc__.splitlines()[0], options)
    x, y, weights = worker.load(args.data)
    (train_lowtf if args.framework == "lowtf" else train_keras)(args, x, y, weights)


if __name__ == "__main__":
    main()
