"""Argument types shared by the commands: each turns a bad value into a usage error
(exit status 2) that names the option and the value."""

import argparse

# --xla values and the Experiment.xla they stand for (None: XLA where it compiles).
XLA_CHOICES = {"auto": None, "on": True, "off": False}


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def layer_sizes(text):
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


def step_range(text):
    """`(start, stop)` from `10:20`: global steps, stop after start."""
    try:
        start, stop = (int(part) for part in text.split(":"))
    except ValueError:
        start = stop = -1
    if not 0 <= start < stop:
        raise argparse.ArgumentTypeError(
            f"expected steps START:STOP with 0 <= START < STOP, such as 10:20, got {text!r}")
    return start, stop
