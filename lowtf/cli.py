"""`lowtf` command line: train, evaluate, predict, summary."""

import argparse
import dataclasses
import sys
import warnings

# --xla values and the Experiment.xla they stand for (None: XLA where it compiles).
XLA_CHOICES = {"auto": None, "on": True, "off": False}


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _layers(text):
    """Hidden layer sizes from `300,100`; an empty item (`300,,100`) is a typo, not a skip."""
    items = [u.strip() for u in text.split(",")]
    if "" in items and text.strip():
        raise argparse.ArgumentTypeError(
            f"hidden layer sizes {text!r} have an empty item; write them as 300,100")
    try:
        sizes = tuple(int(u) for u in items)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated hidden layer sizes such as 300,100, got {text!r}")
    return sizes


def build_parser():
    from lowtf import __version__
    from lowtf.names import ACTIVATION_NAMES as ACTIVATIONS, OPTIMIZER_NAMES as OPTIMIZERS

    parser = argparse.ArgumentParser(
        prog="lowtf", description="Train, evaluate and use lowtf networks.")
    parser.add_argument("--version", action="version", version=f"lowtf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show TensorFlow's own log messages (hidden by default; "
                             "a TF_CPP_MIN_LOG_LEVEL you set yourself is always respected)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="train an experiment (the reference Fashion-MNIST DNN by default)",
        description="Train an experiment and report its test accuracy. Resumes from the "
                    "run directory's latest checkpoint when there is one.")
    train.add_argument("experiment", nargs="?", default=None,
                       help="a name in experiments/ (e.g. mnist_dnn), a .py file defining "
                            "`experiment = lowtf.Experiment(...)`, or a module; default: "
                            "the reference fashion_mnist_dnn")
    train.add_argument("--epochs", type=_positive_int, help="maximum number of epochs")
    train.add_argument("--batch-size", type=_positive_int, help="examples per training step")
    train.add_argument("--learning-rate", "--lr", type=_positive_float, help="learning rate")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    train.add_argument("--layers", type=_layers, metavar="N,N,...",
                       help="hidden layer sizes, e.g. 300,100")
    train.add_argument("--activation", choices=sorted(k for k in ACTIVATIONS if k != "softmax"),
                       help="hidden-layer activation")
    train.add_argument("--patience", type=_positive_int,
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
    train.add_argument("--devices", type=_positive_int,
                       help="logical CPU devices for --strategy mirrored without GPUs "
                            "(default 2, at most 64; must divide --batch-size)")
    train.add_argument("--save-every-steps", type=_positive_int, metavar="N",
                       help="also checkpoint within epochs, at every multiple of N steps")
    train.add_argument("--deterministic", action="store_true",
                       help="seed everything and use deterministic ops: the same seed gives "
                            "the same weights bit for bit, also across kills and resumes")
    train.add_argument("--skip-nonfinite", action="store_true",
                       help="skip (and count) steps with a NaN/Inf loss, gradient or new weight "
                            "instead of stopping (more than half of an epoch skipped fails)")
    train.add_argument("--quiet", action="store_true", help="print only the final result")

    launch = sub.add_parser(
        "launch", help="start N local workers of a multi-worker run",
        description="Run a lowtf command as N local worker processes, each with a TF_CONFIG "
                    "for a localhost cluster, e.g. `lowtf launch 2 train --strategy "
                    "multiworker --run-dir logs/mw`. Output lines are prefixed by worker.")
    launch.add_argument("workers", type=_positive_int, help="number of worker processes")
    launch.add_argument("lowtf_args", nargs=argparse.REMAINDER,
                        help="the lowtf command each worker runs (e.g. train ...)")

    evaluate = sub.add_parser(
        "evaluate", help="evaluate a checkpoint on the test set",
        description="Restore a run's model (best checkpoint, else latest) in this process and "
                    "report its loss and accuracy on a data split.")
    evaluate.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    evaluate.add_argument("--dataset", help="data set name (default: the one it was trained on)")
    evaluate.add_argument("--split", choices=("test", "validation", "train"), default="test")
    evaluate.add_argument("--data-dir", help="folder holding the IDX .gz files")

    predict = sub.add_parser(
        "predict", help="classify image files with a checkpoint",
        description="Classify PNG/JPEG files: each is converted to grayscale, resized to "
                    "28x28 and (by default, when dark-on-light) inverted, then scaled to [0, 1].")
    predict.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--top-k", type=_positive_int, default=3, help="classes to show")
    predict.add_argument("--invert", choices=("auto", "always", "never"), default="auto",
                         help="invert colours (auto: when the image is dark on light)")

    summary = sub.add_parser(
        "summary", help="print a network's layers and parameter counts",
        description="Summarise the network of a checkpoint, or of an experiment when the "
                    "argument is not a checkpoint.")
    summary.add_argument("target", nargs="?", default=None,
                         help="run directory / checkpoint, or an experiment (default: reference)")
    sweep = sub.add_parser(
        "sweep", help="train an experiment over a grid or a random sample of settings",
        description="Run a sweep: one trial per combination of --grid values (and/or "
                    "--trials random draws of --random spaces), each a run in "
                    "<logdir>/<name>/<trial> with HParams summaries for TensorBoard. Finished "
                    "trials are skipped and interrupted ones resume, so rerunning the same "
                    "command continues a sweep. Prints and saves (results.csv) a ranked table.",
        epilog="PARAM is one of hidden (alias layers; 300-100 for two layers), activation, "
               "optimizer, learning_rate (lr), batch_size, epochs, patience, seed. Examples: "
               "lowtf sweep --grid lr=0.003,0.01,0.03 --grid layers=300-100,1000 --epochs 5;  "
               "lowtf sweep --random lr=loguniform:1e-4:1e-1 --random optimizer=adam,momentum "
               "--trials 8;  lowtf sweep lab_learning_rate --parallel 2")
    sweep.add_argument("target", nargs="?", default=None,
                       help="a sweep in experiments/ (e.g. lab_learning_rate), a .py file "
                            "defining `sweep = lowtf.sweep.Sweep(...)` or `experiment = "
                            "lowtf.Experiment(...)`, or a module; default: the reference "
                            "experiment")
    sweep.add_argument("--grid", action="append", default=[], metavar="PARAM=V1,V2,...",
                       help="values to try for PARAM (repeat for more parameters: every "
                            "combination is a trial)")
    sweep.add_argument("--random", action="append", default=[], metavar="PARAM=SPEC",
                       help="a random search space for PARAM: V1,V2,... (a choice), "
                            "loguniform:LOW:HIGH, uniform:LOW:HIGH, logint:LOW:HIGH or "
                            "int:LOW:HIGH")
    sweep.add_argument("--trials", type=_positive_int, help="number of random draws")
    sweep.add_argument("--sweep-seed", type=int, help="seed of the random draws (default 0)")
    sweep.add_argument("--name", help="the sweep's folder under --logdir (default: the "
                                      "sweep's own name, or <experiment>_sweep)")
    sweep.add_argument("--logdir", help="where sweeps go (default logs)")
    sweep.add_argument("--rank-by", choices=("val_accuracy", "val_loss", "test_accuracy",
                                             "test_loss"),
                       help="how trials are ranked (default: best validation accuracy)")
    sweep.add_argument("--parallel", type=_positive_int, default=1,
                       help="trials trained at once, each in its own process (capped at the "
                            "CPU cores; default 1)")
    sweep.add_argument("--retry-failed", action="store_true",
                       help="train trials again that failed in an earlier run")
    sweep.add_argument("--report", action="store_true",
                       help="train nothing; print the table of the trials on disk")
    sweep.add_argument("--plot", metavar="PNG",
                       help="also draw the trials' validation curves to this file "
                            "(needs matplotlib)")
    sweep.add_argument("--epochs", type=_positive_int, help="maximum epochs of every trial")
    sweep.add_argument("--batch-size", type=_positive_int, help="batch size of every trial")
    sweep.add_argument("--learning-rate", "--lr", type=_positive_float,
                       help="learning rate of every trial")
    sweep.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer of every trial")
    sweep.add_argument("--layers", type=_layers, metavar="N,N,...",
                       help="hidden layer sizes of every trial")
    sweep.add_argument("--activation", choices=sorted(k for k in ACTIVATIONS if k != "softmax"),
                       help="hidden-layer activation of every trial")
    sweep.add_argument("--patience", type=_positive_int, help="early-stopping patience")
    sweep.add_argument("--no-early-stopping", action="store_true",
                       help="train every epoch of every trial")
    sweep.add_argument("--seed", type=int, help="seed of every trial's weights and shuffling")
    sweep.add_argument("--data-dir", help="folder holding the IDX .gz files")
    sweep.add_argument("--xla", choices=tuple(XLA_CHOICES), default="auto",
                       help="XLA-compile the training loops (default auto)")
    noise = sweep.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="also print each trial's epochs")
    noise.add_argument("--quiet", action="store_true", help="print only the final table")

    export = sub.add_parser(
        "export", help="write a run's network as a SavedModel for serving",
        description="Export a run's model (best checkpoint, else latest) as a TensorFlow "
                    "SavedModel. Signatures: serving_default / predict_uint8 take uint8 "
                    "images [batch, 28, 28] or [batch, 784] (0-255); predict_float takes "
                    "float32 in [0, 1]. Outputs: class_ids, class_names, probabilities, "
                    "logits, top_k_class_ids, top_k_class_names, top_k_probabilities. "
                    "Loading it needs TensorFlow only (tf.saved_model.load, saved_model_cli, "
                    "TF Serving), not lowtf.")
    export.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    export.add_argument("export_dir", help="the SavedModel folder to create")
    export.add_argument("--top-k", type=_positive_int, default=3,
                        help="classes in the top_k outputs (default 3)")
    export.add_argument("--force", action="store_true",
                        help="replace export_dir if it is an existing SavedModel")

    plot = sub.add_parser(
        "plot", help="draw loss/accuracy curves of runs to a PNG (needs matplotlib)",
        description="Draw the loss and accuracy curves of one or more runs (from their "
                    "history.json) to an image file. A folder holding runs (a sweep) stands "
                    "for all of them. Needs matplotlib: pip install 'lowtf[plot]'.")
    plot.add_argument("runs", nargs="+", help="run directories, or sweep folders")
    plot.add_argument("-o", "--output", default="curves.png",
                      help="the image to write: .png, .pdf or .svg (default curves.png); "
                           "an existing file is replaced only if it is such an image")
    plot.add_argument("--metrics", default="loss,accuracy",
                      help="comma-separated metrics, one panel each (default loss,accuracy)")
    plot.add_argument("--splits", default="train,validation",
                      help="train and/or validation (default both)")
    plot.add_argument("--x", choices=("epoch", "step"), default="epoch", help="x axis")
    plot.add_argument("--title", help="figure title")
    return parser


def _train(args):
    from lowtf.experiment import load_experiment, run_experiment

    experiment = load_experiment(args.experiment).replace(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, hidden=args.layers, activation=args.activation,
        patience=args.patience, seed=args.seed, run_dir=args.run_dir, data_dir=args.data_dir,
        xla=XLA_CHOICES[args.xla], strategy=args.strategy,
        devices=args.devices, save_every_steps=args.save_every_steps,
        deterministic=args.deterministic or None, skip_nonfinite=args.skip_nonfinite or None)
    if args.no_early_stopping:
        experiment = dataclasses.replace(experiment, patience=None)
    results = run_experiment(experiment, verbose=0 if args.quiet else 1)
    if args.quiet:
        print(f"Test accuracy: {results['test']['accuracy']:.4f}")


def _evaluate(args):
    from lowtf.checkpoints import read_config
    from lowtf.datasets import load_dataset
    from lowtf.inference import restore

    predictor = restore(args.checkpoint)
    dataset = args.dataset or read_config(predictor.checkpoint).get(
        "metadata", {}).get("dataset", "fashion_mnist")
    data = load_dataset(dataset, data_dir=args.data_dir, raw=True)
    split = getattr(data, args.split)
    metrics = predictor.evaluate(split.images, split.labels)
    print(f"Restored {predictor.checkpoint}")
    shown = [f"{metrics['accuracy']:.4f}" if "accuracy" in metrics else "n/a"]
    if "loss" in metrics:  # a loss of the user's own is not rebuilt (restore warned)
        shown.append(f"loss {metrics['loss']:.4f}")
    print(f"{args.split.capitalize()} accuracy: {'  '.join(shown)}  "
          f"({len(split):,} {dataset} images)")
    for name, value in metrics.items():
        if name not in ("accuracy", "loss"):
            print(f"{name}: {value:.4f}")


def _predict(args):
    from lowtf.images import load_images
    from lowtf.inference import restore

    predictor = restore(args.checkpoint)
    invert = {"auto": "auto", "always": True, "never": False}[args.invert]
    images = load_images(args.images, invert=invert)
    n_classes = predictor.n_classes(images)
    k = min(args.top_k, n_classes)
    ids, probs = predictor.top_k(images, k)
    names = predictor.class_names or tuple(str(i) for i in range(n_classes))
    for path, row_ids, row_probs in zip(args.images, ids, probs):
        top = ", ".join(f"{names[i]} {p:.3f}" for i, p in zip(row_ids, row_probs))
        print(f"{path}: {names[row_ids[0]]}  (top {k}: {top})")


def _summary(args):
    from lowtf.checkpoints import resolve
    from lowtf.errors import CheckpointError
    from lowtf.experiment import load_experiment
    from lowtf.inference import restore
    from lowtf.models import summary
    from lowtf.network import dnn

    target = args.target
    if target and not target.endswith(".py"):
        try:
            prefix = resolve(target)
        except CheckpointError:
            prefix = None
        if prefix:
            print(summary(restore(prefix).model))
            return
    experiment = load_experiment(target)
    print(summary(experiment.build_model() if experiment.model else
                  dnn(784, experiment.hidden, 10, activation=experiment.activation)))


def _launch(args):
    from lowtf.errors import ConfigError
    from lowtf.launch import launch

    if not args.lowtf_args:
        raise ConfigError("give the command each worker runs, e.g. "
                          "`lowtf launch 2 train --strategy multiworker`")
    code = launch(args.workers, [sys.executable, "-m", "lowtf.cli", *args.lowtf_args])
    if code:
        raise SystemExit(code)


def _parse_space(items, option):
    """`{param: text}` from PARAM=VALUES options."""
    from lowtf.errors import ConfigError

    space = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ConfigError(f"{option} {item!r}: expected PARAM=VALUES, e.g. "
                              f"{option} learning_rate=0.01,0.1")
        space[name.strip()] = values.strip()
    return space


def _split_values(text, option, item):
    """The comma-separated values of one --grid/--random item; an empty one is a typo."""
    from lowtf.errors import ConfigError

    values = [v.strip() for v in text.split(",")]
    if "" in values:
        raise ConfigError(f"{option} {item!r} has an empty value; separate values with "
                          "single commas, e.g. learning_rate=0.01,0.1")
    return values


def _random_space(name, text):
    import re

    from lowtf.errors import ConfigError
    from lowtf.sweep import LogUniform, Uniform

    match = re.fullmatch(r"(loguniform|uniform|logint|int):([^:]+):([^:]+)", text)
    if not match:
        return _split_values(text, "--random", f"{name}={text}")
    kind, low, high = match.groups()
    try:
        low, high = float(low), float(high)
    except ValueError:
        raise ConfigError(f"--random {text!r}: LOW and HIGH must be numbers") from None
    cls = LogUniform if kind.startswith("log") else Uniform
    return cls(low, high, integer=kind in ("logint", "int"))


def _sweep(args):
    from lowtf.errors import ConfigError
    from lowtf.sweep import Sweep, load_target, run_sweep

    if args.plot:  # a bad name fails now, not after the whole sweep
        from lowtf.plot import check_output

        check_output(args.plot)
    sweep, experiment = load_target(args.target)
    grid = {k: _split_values(values, "--grid", f"{k}={values}")
            for k, values in _parse_space(args.grid, "--grid").items()}
    random = {k: _random_space(k, v) for k, v in _parse_space(args.random, "--random").items()}
    overrides = dict(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, hidden=args.layers, activation=args.activation,
        patience=args.patience, seed=args.seed, data_dir=args.data_dir,
        xla=XLA_CHOICES[args.xla])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    changes = {k: v for k, v in (("logdir", args.logdir), ("seed", args.sweep_seed),
                                 ("rank_by", args.rank_by), ("name", args.name)) if v is not None}
    if sweep is None and not grid and not random:
        raise ConfigError("nothing to sweep: give --grid PARAM=V1,V2,... and/or "
                          "--random PARAM=SPEC --trials N (or a sweep such as "
                          "lab_learning_rate)")
    base = (experiment if sweep is None else sweep.base).replace(**overrides)
    if args.no_early_stopping:
        base = dataclasses.replace(base, patience=None)
    if sweep is None:
        sweep = Sweep(changes.pop("name", f"{experiment.name}_sweep"), base=base, grid=grid,
                      random=random, n_trials=args.trials, **changes)
    else:
        extra = {}
        if grid:
            extra["grid"] = {**sweep.grid, **grid}
        if random:
            extra["random"] = {**sweep.random, **random}
        if args.trials:
            extra["n_trials"] = args.trials
        sweep = sweep.replace(base=base, **extra, **changes)
    verbose = 0 if args.quiet else (2 if args.verbose else 1)
    result = run_sweep(sweep, parallel=args.parallel, verbose=verbose,
                       retry_failed=args.retry_failed, train=not args.report)
    if args.quiet:
        print(result.table())
        if result.best:
            print(f"Best trial: {result.best['run_dir']} (checkpoint "
                  f"{result.best.get('checkpoint')})")
    if args.plot:
        from lowtf.plot import plot_runs

        done = {r["trial"] for r in result.rows if r["epochs"]}
        runs = [t.run_dir for t in sweep.trials() if t.id in done]  # in the sweep's order
        if runs:
            plot_runs(runs, args.plot, splits=("validation",), title=f"sweep {sweep.name}")
            print(f"Curves: {args.plot}")


def _export(args):
    from lowtf.export import export_saved_model
    from lowtf.inference import restore

    predictor = restore(args.checkpoint)
    path = export_saved_model(predictor, args.export_dir, top_k=args.top_k,
                              overwrite=args.force)
    print(f"Exported {predictor.checkpoint} to {path}")
    print("Signatures: serving_default / predict_uint8 (uint8 images [batch, 28, 28] or "
          "[batch, 784]), predict_float (float32 in [0, 1])")
    print(f"Try: saved_model_cli run --dir {path} --tag_set serve --signature_def "
          "serving_default --inputs images=images.npy")


def _plot(args):
    from lowtf.plot import plot_runs

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    path = plot_runs(args.runs, args.output, metrics=metrics, splits=splits, title=args.title,
                     x=args.x)
    print(f"Wrote {path}")


def main(argv=None):
    args = build_parser().parse_args(argv)  # help and usage errors end here, without TensorFlow
    if args.verbose:
        from lowtf import tf_chatter

        tf_chatter.disarm()
    from lowtf.errors import LowtfError

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"lowtf {args.command}: warning: {message}", file=file or sys.stderr)

    shown_before, warnings.showwarning = warnings.showwarning, show_warning  # one line each
    try:
        {"train": _train, "evaluate": _evaluate, "predict": _predict,
         "summary": _summary, "launch": _launch,
         "sweep": _sweep, "export": _export, "plot": _plot}[args.command](args)
    except LowtfError as e:
        print(f"lowtf {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lowtf {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown_before
    return 0


if __name__ == "__main__":
    sys.exit(main())
