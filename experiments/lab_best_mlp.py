"""Lab: the search for the best MLP. Four candidates from the other labs' findings, each
trained until its validation accuracy stops improving (patience 8, at most 60 epochs).

Candidates: the reference 784-300-100-10 with momentum; a wider 784-1000-500-10 with
momentum; the wider net with Adam at 5e-4 and at 2e-4 (batches of 100). Ranked by the
best validation accuracy, as a selection should be; `--test` prints the winner's test
accuracy (results.csv keeps every trial's). Took 15 minutes on 2 shared CPU cores (`--parallel 2` where there are more cores).
The winner, fine-tuned at a smaller learning rate, is experiments/best_mlp.py.

    lowtf sweep lab_best_mlp
    lowtf sweep --report logs/lab_best_mlp --test
"""

import lowtf as lt

experiment = lt.Experiment(name="lab_best_mlp", epochs=60, patience=8)

sweep = lt.sweep.Sweep(
    "lab_best_mlp", base=experiment,
    configs=[
        {"hidden": (300, 100), "optimizer": "momentum", "learning_rate": 0.01, "batch_size": 50},
        {"hidden": (1000, 500), "optimizer": "momentum", "learning_rate": 0.01, "batch_size": 50},
        {"hidden": (1000, 500), "optimizer": "adam", "learning_rate": 5e-4, "batch_size": 100},
        {"hidden": (1000, 500), "optimizer": "adam", "learning_rate": 2e-4, "batch_size": 100},
    ],
    description="Best-MLP candidates, early stopping on validation accuracy.")

if __name__ == "__main__":
    import sys

    from lowtf.cli import main

    sys.exit(main(["sweep", __file__, *sys.argv[1:]]))
