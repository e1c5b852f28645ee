"""Lab: gradient clipping against a learning rate that is too high.

The reference network (784-300-100-10 ReLU, plain gradient descent, batches of 50,
seed 42) at a learning rate of 1.0, where `lab_learning_rate` found the first steps
blow the loss up and kill the ReLUs; 10 epochs, no early stopping, on the real
Fashion-MNIST. No clipping, then the gradient clipped three ways:

    global_clipnorm=none   no clipping (the lab_learning_rate trial again)
    global_clipnorm=1      all gradients scaled together to a global norm <= 1
    clipnorm=1             each variable's gradient scaled to a norm <= 1
    clipvalue=0.5          each gradient component clipped to [-0.5, 0.5]
    clipvalue=0.05         ... to [-0.05, 0.05] (a step of at most 0.05 per weight)

Findings: experiments/README.md.

    lowtf sweep lab_clipping               # or: python experiments/lab_clipping.py
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_clipping", learning_rate=1.0, epochs=10, patience=None)

sweep = lt.sweep.Sweep(
    "lab_clipping", base=experiment,
    configs=[{"optimizer_args.global_clipnorm": None},
             {"optimizer_args.global_clipnorm": 1.0},
             {"optimizer_args.clipnorm": 1.0},
             {"optimizer_args.clipvalue": 0.5},
             {"optimizer_args.clipvalue": 0.05}],
    description="SGD at 1.0: no clipping vs global_clipnorm 1, clipnorm 1, clipvalue "
                "0.5 and 0.05.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
