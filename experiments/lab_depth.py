"""Lab: depth at an equal parameter count. 1, 2, 3, 4, 6 and 8 hidden ReLU layers of equal
width, each network as close as it gets to the reference's 266,610 parameters.

Gradient descent at 0.01, batches of 50, seed 42, on the real Fashion-MNIST, 10 epochs
each. The HParams dashboard shows `depth` and `n_params` beside `layers`.
Findings: experiments/README.md.

    lowtf sweep lab_depth                  # or: python experiments/lab_depth.py
"""

import lowtf as lt
from lowtf.experiment import count_params

REFERENCE_PARAMS = 266_610  # 784-300-100-10


def equal_width(depth, params=REFERENCE_PARAMS):
    """The width whose `depth` equal hidden layers come closest to `params` parameters."""
    return min(range(1, 2000), key=lambda w: abs(count_params((w,) * depth) - params))


experiment = lt.Experiment(name="lab_depth", epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_depth", base=experiment,
    grid={"hidden": [(equal_width(d),) * d for d in (1, 2, 3, 4, 6, 8)]},
    description="1 to 8 equal hidden layers at ~266,610 parameters, SGD 0.01, 10 epochs.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
