"""`lowtf train` (an experiment, resumed when its run directory has a checkpoint) and
`lowtf launch` (a multi-worker run as local worker processes)."""

import argparse
import dataclasses
import sys

from lowtf.cli.arguments import (XLA_CHOICES, layer_sizes, positive_float, positive_int,
                                 step_range)


def add_train_parser(sub):
    from lowtf.names import ACTIVATION_NAMES as ACTIVATIONS, OPTIMIZER_NAMES as OPTIMIZERS

    train = sub.add_parser(
        "train", help="train an experiment (the reference Fashion-MNIST DNN by default)",
        description="Train an experiment and report its test accuracy. Resumes from the "
                    "run directory's latest checkpoint when there is one.")
    train.set_defaults(run=train_command)
    train.add_argument("experiment", nargs="?", default=None,
                       help="a name in experiments/ (e.g. mnist_dnn), a .py file defining "
                            "`experiment = lowtf.Experiment(...)`, or a module; default: "
                            "the reference fashion_mnist_dnn")
    train.add_argument("--epochs", type=positive_int, help="maximum number of epochs")
    train.add_argument("--batch-size", type=positive_int, help="examples per training step")
    train.add_argument("--learning-rate", "--lr", type=positive_float, help="learning rate")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    train.add_argument("--layers", type=layer_sizes, metavar="N,N,...",
                       help="hidden layer sizes, e.g. 300,100")
    train.add_argument("--activation", choices=sorted(k for k in ACTIVATIONS if k != "softmax"),
                       help="hidden-layer activation")
    train.add_argument("--patience", type=positive_int,
                       help="early-stopping patience in epochs")
    train.add_argument("--no-early-stopping", action="store_true",
                       help="train every epoch")
    train.add_argument("--seed", type=int, help="seed for initial weights and shuffling")
    train.add_argument("--run-dir", help="where logs and checkpoints go (default logs/<name>)")
    train.add_argument("--data-dir", help="folder holding the IDX .gz files")
    train.add_argument("--xla", choices=tuple(XLA_CHOICES), default="auto",
                       help="XLA-compile the training loop (default auto: on when it compiles)")
    train.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                       default="default",
                       help="tf.distribute strategy: one device (default), mirrored over local "
                            "GPUs or logical CPUs, or multiworker over the TF_CONFIG cluster")
    train.add_argument("--devices", type=positive_int,
                       help="logical CPU devices for --strategy mirrored without GPUs "
                            "(default 2, at most 64; must divide --batch-size)")
    train.add_argument("--save-every-steps", type=positive_int, metavar="N",
                       help="also checkpoint within epochs, at every multiple of N steps")
    train.add_argument("--deterministic", action="store_true",
                       help="seed everything and use deterministic ops: the same seed gives "
                            "the same weights bit for bit, also across kills and resumes")
    train.add_argument("--skip-nonfinite", action="store_true",
                       help="skip (and count) steps with a NaN/Inf loss, gradient or new weight "
                            "instead of stopping (more than half of an epoch skipped fails)")
    train.add_argument("--ema", type=positive_float, metavar="DECAY",
                       help="evaluate, keep and export a moving average of the weights "
                            "with this decay (e.g. 0.999)")
    train.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                       help="mixed precision policy (mixed_float16 needs a GPU)")
    train.add_argument("--accumulate", type=positive_int, metavar="K",
                       help="sum the gradients of K batches per update")
    train.add_argument("--l2", type=positive_float, help="L2 penalty on the kernels")
    train.add_argument("--eval-every-steps", type=positive_int, metavar="N",
                       help="also evaluate the validation data every N steps")
    train.add_argument("--profile", type=step_range, metavar="START:STOP",
                       help="profile steps START+1..STOP for TensorBoard's Profile tab")
    train.add_argument("--quiet", action="store_true", help="print only the final result")


def add_launch_parser(sub):
    launch = sub.add_parser(
        "launch", help="start N local workers of a multi-worker run",
        description="Run a lowtf command as N local worker processes, each with a TF_CONFIG "
                    "for a localhost cluster, e.g. `lowtf launch 2 train --strategy "
                    "multiworker --run-dir logs/mw`. Output lines are prefixed by worker.")
    launch.set_defaults(run=launch_command)
    launch.add_argument("workers", type=positive_int, help="number of worker processes")
    launch.add_argument("lowtf_args", nargs=argparse.REMAINDER,
                        help="the lowtf command each worker runs (e.g. train ...)")


def train_command(args):
    from lowtf.experiment import load_experiment, run_experiment

    experiment = load_experiment(args.experiment).replace(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, hidden=args.layers, activation=args.activation,
        patience=args.patience, seed=args.seed, run_dir=args.run_dir, data_dir=args.data_dir,
        xla=XLA_CHOICES[args.xla], strategy=args.strategy,
        devices=args.devices, save_every_steps=args.save_every_steps,
        deterministic=args.deterministic or None, skip_nonfinite=args.skip_nonfinite or None,
        ema=args.ema, precision=args.precision, accumulate=args.accumulate, l2=args.l2,
        eval_every_steps=args.eval_every_steps)
    if args.profile:
        from lowtf.actions import Profile
        experiment = dataclasses.replace(
            experiment, actions=(*experiment.actions, Profile(*args.profile)))
    if args.no_early_stopping:
        experiment = dataclasses.replace(experiment, patience=None)
    results = run_experiment(experiment, verbose=0 if args.quiet else 1)
    if args.quiet:
        print(f"Test accuracy: {results['test']['accuracy']:.4f}")


def launch_command(args):
    from lowtf.errors import ConfigError
    from lowtf.launch import launch

    if not args.lowtf_args:
        raise ConfigError("give the command each worker runs, e.g. "
                          "`lowtf launch 2 train --strategy multiworker`")
    code = launch(args.workers, [sys.executable, "-m", "lowtf.cli", *args.lowtf_args])
    if code:
        raise SystemExit(code)
