"""`lowtf lr-find`: the learning-rate range test (`lowtf.lr_finder`) of an experiment."""

from lowtf.cli.arguments import positive_float, positive_int


def add_lr_find_parser(sub):
    from lowtf.names import OPTIMIZER_NAMES as OPTIMIZERS

    finder = sub.add_parser(
        "lr-find", help="find a learning rate: a short run with an exponentially growing rate",
        description="Train a fresh model of the experiment for a few steps while the learning "
                    "rate grows from --start to --end, record the loss, and suggest the rate "
                    "where it falls fastest. Writes lr_finder.png, lr_finder.json and "
                    "TensorBoard scalars (lr_finder/...) to the run directory. The "
                    "experiment's own run is not touched.")
    finder.set_defaults(run=lr_find_command)
    finder.add_argument("experiment", nargs="?", default=None,
                        help="a name in experiments/, a .py file defining `experiment = "
                             "lowtf.Experiment(...)`, or a module; default: the reference "
                             "fashion_mnist_dnn")
    finder.add_argument("--steps", type=positive_int, default=200,
                        help="the most training steps (default 200)")
    finder.add_argument("--start", type=positive_float, default=1e-6,
                        help="first learning rate (default 1e-6)")
    finder.add_argument("--end", type=positive_float, default=1.0,
                        help="last learning rate (default 1)")
    finder.add_argument("--batch-size", type=positive_int,
                        help="examples per step (default: the experiment's)")
    finder.add_argument("--optimizer", choices=OPTIMIZERS,
                        help="optimizer (default: the experiment's)")
    finder.add_argument("--run-dir", help="where the results go (default logs/<name>_lr_find)")
    finder.add_argument("--data-dir", help="folder holding the IDX .gz files")


def lr_find_command(args):
    from lowtf.datasets import load_dataset
    from lowtf.experiment import load_experiment
    from lowtf.lr_finder import find_learning_rate

    experiment = load_experiment(args.experiment).replace(
        batch_size=args.batch_size, optimizer=args.optimizer, data_dir=args.data_dir)
    data = load_dataset(experiment.dataset, data_dir=experiment.data_dir, raw=True)
    n_outputs = len(data.class_names) if data.class_names else 10
    find_learning_rate(experiment.model_factory(n_outputs), data.train,
                       optimizer=experiment.optimizer, start=args.start, end=args.end,
                       steps=args.steps, batch_size=experiment.batch_size,
                       run_dir=args.run_dir or f"{experiment.log_dir}_lr_find",
                       seed=experiment.seed)
