"""The commands over many runs: `lowtf sweep` (an experiment trained over a grid or a
random sample of its settings, ranked) and `lowtf plot` (the curves of runs or sweeps)."""

import dataclasses

from lowtf.cli.arguments import XLA_CHOICES, layer_sizes, positive_float, positive_int


def add_sweep_parser(sub):
    from lowtf.names import ACTIVATION_NAMES as ACTIVATIONS, OPTIMIZER_NAMES as OPTIMIZERS

    sweep = sub.add_parser(
        "sweep", help="train an experiment over a grid or a random sample of settings",
        description="Run a sweep: one trial per combination of --grid values (and/or "
                    "--trials random draws of --random spaces), each a run in "
                    "<logdir>/<name>/<trial> with HParams summaries for TensorBoard. Finished "
                    "trials are skipped and interrupted ones resume, so rerunning the same "
                    "command continues a sweep. Prints and saves (results.csv) the trials "
                    "ranked on validation, without test figures: --test adds the chosen "
                    "trial's. `lowtf sweep --report logs/<name>` prints the table of a sweep "
                    "folder as it is on disk (no experiment or --grid needed).",
        epilog="PARAM is one of hidden (alias layers; 300-100 for two layers), activation, "
               "optimizer, learning_rate (lr), batch_size, epochs, patience, seed, l2, ema, "
               "accumulate, precision, or model_args.KEY / optimizer_args.KEY (a keyword "
               "of the experiment's model builder or optimizer; values read as JSON, "
               "e.g. --grid model_args.dropout=0,0.2,0.5). Examples: "
               "lowtf sweep --grid lr=0.003,0.01,0.03 --grid layers=300-100,1000 --epochs 5;  "
               "lowtf sweep --random lr=loguniform:1e-4:1e-1 --random optimizer=adam,momentum "
               "--trials 8;  lowtf sweep lab_learning_rate --parallel 2;  "
               "lowtf sweep --report logs/lab_learning_rate --test")
    sweep.set_defaults(run=sweep_command)
    sweep.add_argument("target", nargs="?", default=None,
                       help="a sweep in experiments/ (e.g. lab_learning_rate), a .py file "
                            "defining `sweep = lowtf.sweep.Sweep(...)` or `experiment = "
                            "lowtf.Experiment(...)`, or a module; default: the reference "
                            "experiment. With --report: also a sweep folder (logs/<name>)")
    sweep.add_argument("--grid", action="append", default=[], metavar="PARAM=V1,V2,...",
                       help="values to try for PARAM (repeat for more parameters: every "
                            "combination is a trial)")
    sweep.add_argument("--random", action="append", default=[], metavar="PARAM=SPEC",
                       help="a random search space for PARAM: V1,V2,... (a choice), "
                            "loguniform:LOW:HIGH, uniform:LOW:HIGH, logint:LOW:HIGH or "
                            "int:LOW:HIGH")
    sweep.add_argument("--trials", type=positive_int, help="number of random draws")
    sweep.add_argument("--sweep-seed", type=int, help="seed of the random draws (default 0)")
    sweep.add_argument("--name", help="the sweep's folder under --logdir (default: the "
                                      "sweep's own name, or <experiment>_sweep)")
    sweep.add_argument("--logdir", help="where sweeps go (default logs)")
    sweep.add_argument("--rank-by", metavar="val_accuracy|val_loss",
                       help="how trials are ranked (default: best validation accuracy); "
                            "never a test figure, which would choose on the test set")
    sweep.add_argument("--parallel", type=positive_int, default=1,
                       help="trials trained at once, each in its own process (capped at the "
                            "CPU cores; default 1)")
    sweep.add_argument("--retry-failed", action="store_true",
                       help="train trials again that failed in an earlier run")
    sweep.add_argument("--report", action="store_true",
                       help="train nothing; print the table of the trials on disk (of the "
                            "sweep given, or of a sweep folder: --report logs/<name>)")
    sweep.add_argument("--test", action="store_true",
                       help="also print the test figures of the chosen (best) trial, and "
                            "of no other: the one look at the test set, after choosing on "
                            "validation")
    sweep.add_argument("--plot", metavar="PNG",
                       help="also draw the trials' validation curves to this file")
    sweep.add_argument("--epochs", type=positive_int, help="maximum epochs of every trial")
    sweep.add_argument("--batch-size", type=positive_int, help="batch size of every trial")
    sweep.add_argument("--learning-rate", "--lr", type=positive_float,
                       help="learning rate of every trial")
    sweep.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer of every trial")
    sweep.add_argument("--layers", type=layer_sizes, metavar="N,N,...",
                       help="hidden layer sizes of every trial")
    sweep.add_argument("--activation", choices=sorted(k for k in ACTIVATIONS if k != "softmax"),
                       help="hidden-layer activation of every trial")
    sweep.add_argument("--patience", type=positive_int, help="early-stopping patience")
    sweep.add_argument("--no-early-stopping", action="store_true",
                       help="train every epoch of every trial")
    sweep.add_argument("--seed", type=int, help="seed of every trial's weights and shuffling")
    sweep.add_argument("--data-dir", help="folder holding the IDX .gz files")
    sweep.add_argument("--xla", choices=tuple(XLA_CHOICES), default="auto",
                       help="XLA-compile the training loops (default auto)")
    noise = sweep.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="also print each trial's epochs")
    noise.add_argument("--quiet", action="store_true", help="print only the final table")


def add_plot_parser(sub):
    plot = sub.add_parser(
        "plot", help="draw loss/accuracy curves of runs to a PNG",
        description="Draw the loss and accuracy curves of one or more runs (from their "
                    "history.json) to an image file. A folder holding runs (a sweep) stands "
                    "for all of them.")
    plot.set_defaults(run=plot_command)
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


def _overrides(args):
    """The train overrides given (`--epochs`, `--lr`, ...), as Experiment fields."""
    overrides = dict(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        optimizer=args.optimizer, hidden=args.layers, activation=args.activation,
        patience=args.patience, seed=args.seed, data_dir=args.data_dir,
        xla=XLA_CHOICES[args.xla])
    return {k: v for k, v in overrides.items() if v is not None}


def _is_folder(target):
    """Whether the target names a folder to report rather than an experiment: a folder
    that is a sweep, or any folder but a Python package (a module to import)."""
    import os

    from lowtf.run_dir import SweepDir

    if not target or not os.path.isdir(target):
        return False
    return os.path.isfile(SweepDir(target).description) or \
        not os.path.isfile(os.path.join(target, "__init__.py"))


def sweep_command(args):
    from lowtf.errors import ConfigError
    from lowtf.sweep import Sweep, load_target, run_sweep

    if args.plot:  # a bad name fails now, not after the whole sweep
        from lowtf.plot import check_output

        check_output(args.plot)
    if _is_folder(args.target):
        return _report_folder(args)
    sweep, experiment = load_target(args.target)
    grid = {k: _split_values(values, "--grid", f"{k}={values}")
            for k, values in _parse_space(args.grid, "--grid").items()}
    random = {k: _random_space(k, v) for k, v in _parse_space(args.random, "--random").items()}
    overrides = _overrides(args)
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
    _finish(args, result, [t.run_dir for t in sweep.trials()])


def _report_folder(args):
    """`lowtf sweep --report DIR`: the sweep in DIR ranked as it is on disk."""
    from lowtf.errors import ConfigError
    from lowtf.run_dir import SweepDir
    from lowtf.sweep import report_sweep_dir
    from lowtf.sweep.ondisk import open_sweep_dir

    if not args.report:
        raise ConfigError(f"{args.target} is a folder; to print the table of the sweep in "
                          f"it add --report (lowtf sweep --report {args.target}); to run a "
                          "sweep give an experiment or sweep: a name in experiments/, a .py "
                          "file or a module")
    open_sweep_dir(args.target)  # not a sweep folder: that first
    given = [option for option, value in (
        ("--grid", args.grid), ("--random", args.random), ("--trials", args.trials),
        ("--name", args.name), ("--logdir", args.logdir), ("--sweep-seed", args.sweep_seed),
        ("--retry-failed", args.retry_failed), ("--no-early-stopping",
                                                args.no_early_stopping),
        ("train overrides", {k: v for k, v in _overrides(args).items() if k != "xla"}))
        if value]
    if given:
        raise ConfigError(f"--report {args.target} reads the sweep as it is on disk and "
                          f"trains nothing; leave out {', '.join(given)} (or give the "
                          "sweep's experiment instead of its folder to change it)")
    result = report_sweep_dir(args.target, rank_by=args.rank_by, verbose=0 if args.quiet else 1)
    folder = SweepDir(args.target)
    _finish(args, result, [folder.trial(t).path for t in result.sweep.trial_ids])


def _finish(args, result, run_dirs):
    """What a sweep prints after its report: the quiet summary, the chosen trial's test
    figures (`--test`), and the curves (`--plot`) of the trials in `run_dirs`' order."""
    if args.quiet:
        print(result.table())
        if result.best:
            print(f"Best trial: {result.best['run_dir']} (checkpoint "
                  f"{result.best.get('checkpoint')})")
    if args.test:
        print(result.test_report())
    if args.plot:
        from lowtf.plot import plot_runs

        done = {r["run_dir"] for r in result.rows if r["epochs"]}
        runs = [run for run in run_dirs if run in done]  # in the sweep's order
        if runs:
            plot_runs(runs, args.plot, splits=("validation",),
                      title=f"sweep {result.sweep.name}")
            print(f"Curves: {args.plot}")


def plot_command(args):
    from lowtf.plot import plot_runs

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    path = plot_runs(args.runs, args.output, metrics=metrics, splits=splits, title=args.title,
                     x=args.x)
    print(f"Wrote {path}")
