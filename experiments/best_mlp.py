"""The best MLP the labs found: 784-1000-500-10 ReLU `neuron_layer`s, Adam, then a
smaller learning rate. Test accuracy on the real Fashion-MNIST: see experiments/README.md.

Phase 1 is the winner of `lab_best_mlp` (by validation accuracy): Adam at 5e-4, batches
of 100, until the validation accuracy has not improved for 8 epochs (at most 40).
Phase 2: the same run continues 10 more epochs at a tenth of the learning rate (5e-5). The model reported is the best validation checkpoint of the whole
run (`logs/best_mlp/checkpoints/best`), evaluated once on the 10,000 test images.

    python experiments/best_mlp.py        # ~10 minutes on 2 CPU cores; logs/best_mlp
    lowtf evaluate logs/best_mlp          # the same test accuracy, in a new process
    lowtf export logs/best_mlp export/best_mlp

`lowtf train best_mlp` trains phase 1 alone (an Experiment cannot change its learning
rate mid-run; this script does it with the Python API). Delete logs/best_mlp to start over.
"""

import json
import os

import tensorflow as tf

import lowtf as lt
from lowtf.experiment import build_trainer

FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")

experiment = lt.Experiment(name="best_mlp", hidden=(1000, 500), activation="relu",
                           optimizer="adam", learning_rate=5e-4, batch_size=100, epochs=40,
                           patience=8)
FINE_TUNE_EPOCHS = 10
FINE_TUNE_FACTOR = 0.1


def main():
    data = lt.load_dataset(experiment.dataset, raw=True)
    trainer = build_trainer(experiment, data.class_names)
    print(trainer.model.summary())
    history = trainer.fit(data.train, data.validation, epochs=experiment.epochs,
                          batch_size=experiment.batch_size,
                          early_stopping=lt.actions.EarlyStopping(experiment.monitor,
                                                          patience=experiment.patience,
                                                          restore_best=False))
    phase1 = len(history["epoch"])
    rate = experiment.learning_rate * FINE_TUNE_FACTOR
    print(f"Phase 2: learning rate {rate:g} for {FINE_TUNE_EPOCHS} more epochs", flush=True)
    trainer.optimizer.learning_rate.assign(rate)
    history = trainer.fit(data.train, data.validation, epochs=phase1 + FINE_TUNE_EPOCHS,
                          batch_size=experiment.batch_size)
    best = lt.restore(experiment.log_dir)  # the best validation checkpoint of both phases
    test = best.evaluate(data.test.images, data.test.labels)
    val = history["val_accuracy"]
    best_epoch = max(range(len(val)), key=val.__getitem__) + 1
    results = {"experiment": experiment.name, "phase1_epochs": phase1, "epochs": len(val),
               "best_epoch": best_epoch, "best_val_accuracy": val[best_epoch - 1],
               "fine_tune_learning_rate": rate, "checkpoint": best.checkpoint, "test": test}
    with open(os.path.join(experiment.log_dir, "best_mlp.json"), "w") as f:
        json.dump(results, f, indent=2)
    test_figures(best, data, history["step"][best_epoch - 1])
    print(f"Best checkpoint {best.checkpoint} (epoch {best_epoch}, validation accuracy "
          f"{val[best_epoch - 1]:.4f})\nTest accuracy: {test['accuracy']:.4f}  "
          f"loss {test['loss']:.4f}", flush=True)


def test_figures(predictor, data, step):
    """The test set's sample grid, confident mistakes and confusion matrix: in TensorBoard
    (`logs/best_mlp/test`) and as PNGs in experiments/figures/."""
    writer = tf.summary.create_file_writer(os.path.join(experiment.log_dir, "test"))
    images = lt.figures.write_evaluation_images(
        writer, step, data.test.images, data.test.labels,
        predictor.probabilities(data.test.images), data.class_names)
    writer.close()
    os.makedirs(FIGURES, exist_ok=True)
    for tag, image in images.items():
        tf.io.write_file(os.path.join(FIGURES, f"best_mlp_{tag}.png"), tf.io.encode_png(image))


if __name__ == "__main__":
    main()
