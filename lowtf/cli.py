"""`lowtf` command line: train, evaluate, predict, summary."""

import argparse
import dataclasses
import os
import sys


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
    try:
        sizes = tuple(int(u) for u in text.split(",") if u.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated hidden layer sizes such as 300,100, got {text!r}")
    return sizes


def build_parser():
    from lowtf.activations import ACTIVATIONS
    from lowtf.optimizers import OPTIMIZERS

    parser = argparse.ArgumentParser(
        prog="lowtf", description="Train, evaluate and use lowtf networks.")
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
    train.add_argument("--xla", choices=("auto", "on", "off"), default="auto",
                       help="XLA-compile the training loop (default auto: on when it compiles)")
    train.add_argument("--quiet", action="store_true", help="print only the final result")

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
    return parser


def _train(args):
    from lowtf.experiment import load_experiment, run_experiment

    experiment = load_experiment(args.experiment).replace(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, hidden=args.layers, activation=args.activation,
        patience=args.patience, seed=args.seed, run_dir=args.run_dir, data_dir=args.data_dir,
        xla={"auto": None, "on": True, "off": False}[args.xla])
    if args.no_early_stopping:
        experiment = dataclasses.replace(experiment, patience=None)
    results = run_experiment(experiment, verbose=0 if args.quiet else 1)
    if args.quiet:
        print(f"Test accuracy: {results['test']['accuracy']:.4f}")


def _evaluate(args):
    from lowtf.checkpoints import read_config, resolve
    from lowtf.datasets import load_dataset
    from lowtf.inference import restore

    predictor = restore(args.checkpoint)
    dataset = args.dataset or read_config(resolve(args.checkpoint)).get(
        "metadata", {}).get("dataset", "fashion_mnist")
    data = load_dataset(dataset, data_dir=args.data_dir, raw=True)
    split = getattr(data, args.split)
    metrics = predictor.evaluate(split.images, split.labels)
    print(f"Restored {predictor.checkpoint}")
    print(f"{args.split.capitalize()} accuracy: {metrics['accuracy']:.4f}  loss "
          f"{metrics['loss']:.4f}  ({len(split):,} {dataset} images)")
    for name, value in metrics.items():
        if name not in ("accuracy", "loss"):
            print(f"{name}: {value:.4f}")


def _predict(args):
    from lowtf.images import load_images
    from lowtf.inference import restore

    predictor = restore(args.checkpoint)
    invert = {"auto": "auto", "always": True, "never": False}[args.invert]
    images = load_images(args.images, invert=invert)
    k = min(args.top_k, predictor.model.n_outputs)
    ids, probs = predictor.top_k(images, k)
    names = predictor.class_names or tuple(str(i) for i in range(predictor.model.n_outputs))
    for path, row_ids, row_probs in zip(args.images, ids, probs):
        top = ", ".join(f"{names[i]} {p:.3f}" for i, p in zip(row_ids, row_probs))
        print(f"{path}: {names[row_ids[0]]}  (top {k}: {top})")


def _summary(args):
    from lowtf.checkpoints import resolve
    from lowtf.errors import CheckpointError
    from lowtf.experiment import load_experiment
    from lowtf.inference import restore
    from lowtf.network import dnn

    target = args.target
    if target and not target.endswith(".py"):
        try:
            prefix = resolve(target)
        except CheckpointError:
            prefix = None
        if prefix:
            print(restore(prefix).model.summary())
            return
    experiment = load_experiment(target)
    print(dnn(784, experiment.hidden, 10, activation=experiment.activation).summary())


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from lowtf.errors import LowtfError

    try:
        {"train": _train, "evaluate": _evaluate, "predict": _predict,
         "summary": _summary}[args.command](args)
    except LowtfError as e:
        print(f"lowtf {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lowtf {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
