"""Lab: learning-rate schedules at the same peak rate, 0.1.

The reference network (784-300-100-10 ReLU `neuron_layer`s, plain gradient descent,
batches of 50) on the real Fashion-MNIST, 10 epochs (11,000 steps) each, no early
stopping, each schedule with two seeds (42 and 7: weights and shuffling), since the
differences are small:

    lr=0.1             constant (the best constant rate of lab_learning_rate)
    lr=step            0.1, then 0.01 after epoch 5, 0.001 after epoch 7.5
    lr=cosine          cosine decay from 0.1 to 0 over the 11,000 steps
    lr=warmup-cosine   a linear warmup from 0 over the first epoch, then cosine to 0

Findings: experiments/README.md.

    lowtf sweep lab_schedules              # or: python experiments/lab_schedules.py
"""

import lowtf as lt

S = lt.optimizers.schedules
PEAK = 0.1
EPOCHS = 10
STEPS_PER_EPOCH = 55_000 // 50
STEPS = EPOCHS * STEPS_PER_EPOCH

experiment = lt.Experiment(name="lab_schedules", epochs=EPOCHS, patience=None)

sweep = lt.sweep.Sweep(
    "lab_schedules", base=experiment,
    grid={"learning_rate": [
        PEAK,
        {"label": "step", **S.PiecewiseConstant(
            [STEPS // 2, STEPS * 3 // 4], [PEAK, PEAK / 10, PEAK / 100]).get_config()},
        {"label": "cosine", **S.CosineDecay(PEAK, decay_steps=STEPS).get_config()},
        {"label": "warmup-cosine", **S.Warmup(STEPS_PER_EPOCH, after=S.CosineDecay(
            PEAK, decay_steps=STEPS - STEPS_PER_EPOCH)).get_config()},
    ], "seed": [42, 7]},
    description="Constant, step, cosine and warmup+cosine at peak 0.1, SGD, 10 epochs, "
                "two seeds.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
