"""The commands that use a run's trained model: `lowtf evaluate`, `predict`, `summary`
and `export`. Each restores the model alone (best checkpoint, else latest) in this
process; `summary` also describes an experiment's network without training it."""

from lowtf.cli.arguments import positive_int


def add_evaluate_parser(sub):
    evaluate = sub.add_parser(
        "evaluate", help="evaluate a checkpoint on the test set",
        description="Restore a run's model (best checkpoint, else latest) in this process and "
                    "report its loss and accuracy on a data split.")
    evaluate.set_defaults(run=evaluate_command)
    evaluate.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    evaluate.add_argument("--dataset", help="data set name (default: the one it was trained on)")
    evaluate.add_argument("--split", choices=("test", "validation", "train"), default="test")
    evaluate.add_argument("--data-dir", help="folder holding the IDX .gz files")


def add_predict_parser(sub):
    predict = sub.add_parser(
        "predict", help="classify image files with a checkpoint",
        description="Classify PNG/JPEG files: each is converted to grayscale, resized to "
                    "28x28 and (by default, when dark-on-light) inverted, then scaled to [0, 1].")
    predict.set_defaults(run=predict_command)
    predict.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--top-k", type=positive_int, default=3, help="classes to show")
    predict.add_argument("--invert", choices=("auto", "always", "never"), default="auto",
                         help="invert colours (auto: when the image is dark on light)")


def add_summary_parser(sub):
    summary = sub.add_parser(
        "summary", help="print a network's layers and parameter counts",
        description="Summarise the network of a checkpoint, or of an experiment when the "
                    "argument is not a checkpoint.")
    summary.set_defaults(run=summary_command)
    summary.add_argument("target", nargs="?", default=None,
                         help="run directory / checkpoint, or an experiment (default: reference)")


def add_export_parser(sub):
    export = sub.add_parser(
        "export", help="write a run's network as a SavedModel for serving",
        description="Export a run's model (best checkpoint, else latest) as a TensorFlow "
                    "SavedModel. Signatures: serving_default / predict_uint8 take uint8 "
                    "images [batch, 28, 28] or [batch, 784] (0-255); predict_float takes "
                    "float32 in [0, 1]. Outputs: class_ids, class_names, probabilities, "
                    "logits, top_k_class_ids, top_k_class_names, top_k_probabilities. "
                    "Loading it needs TensorFlow only (tf.saved_model.load, saved_model_cli, "
                    "TF Serving), not lowtf.")
    export.set_defaults(run=export_command)
    export.add_argument("checkpoint", help="run directory, checkpoints folder or prefix")
    export.add_argument("export_dir", help="the SavedModel folder to create")
    export.add_argument("--top-k", type=positive_int, default=3,
                        help="classes in the top_k outputs (default 3)")
    export.add_argument("--force", action="store_true",
                        help="replace export_dir if it is an existing SavedModel")


def evaluate_command(args):
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


def predict_command(args):
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


def summary_command(args):
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


def export_command(args):
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
