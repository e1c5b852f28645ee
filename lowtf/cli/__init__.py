"""`lowtf` command line: train, launch, evaluate, predict, summary, sweep, export, plot,
lr-find.

    main()     parses the arguments, runs the command, turns a lowtf error into one line
    train      train (an experiment) and launch (local worker processes)
    model      evaluate, predict, summary and export: a run's trained model
    sweep      sweep (many trials, ranked) and plot (curves of runs)
    lr_find    lr-find (the learning-rate range test of an experiment)
    arguments  argument types the commands share

Each command module adds its subcommands to the parser and names the function that
runs each. TensorFlow is imported only inside those functions, so `lowtf --help` and a
usage error answer at once.
"""

import argparse
import sys
import warnings

from lowtf.cli import lr_find, model, sweep, train


def build_parser():
    from lowtf import __version__

    parser = argparse.ArgumentParser(
        prog="lowtf", description="Train, evaluate and use lowtf networks.")
    parser.add_argument("--version", action="version", version=f"lowtf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show TensorFlow's own log messages (hidden by default; "
                             "a TF_CPP_MIN_LOG_LEVEL you set yourself is always respected)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (train.add_train_parser, train.add_launch_parser, model.add_evaluate_parser,
                model.add_predict_parser, model.add_summary_parser, sweep.add_sweep_parser,
                model.add_export_parser, sweep.add_plot_parser, lr_find.add_lr_find_parser):
        add(sub)
    return parser


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
        args.run(args)
    except LowtfError as e:
        print(f"lowtf {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lowtf {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown_before
    return 0
