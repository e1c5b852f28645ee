"""One MultiWorkerMirroredStrategy worker for tests: trains a small DNN, prints JSON.

Usage: TF_CONFIG=... python mw_worker.py RUN_DIR EPOCHS [SLEEP_PER_EPOCH]
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lowtf as lt  # noqa: E402
from conftest import make_classification  # noqa: E402
from lowtf.distribute import make_strategy  # noqa: E402

run_dir, epochs = sys.argv[1], int(sys.argv[2])
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
strategy = make_strategy("multiworker", timeout_seconds=20)
x, y = make_classification(400)
trainer = lt.Trainer(lambda: lt.dnn(784, (32,), 10, seed=0), optimizer=lt.optimizers.SGD(0.05),
                     run_dir=run_dir, strategy=strategy, verbose=0, histograms=False)
for epoch in range(1, epochs + 1):
    trainer.fit((x, y), (x[:100], y[:100]), epochs=epoch, batch_size=40)
    time.sleep(pause)
weights = trainer.model.get_weights()
print(json.dumps({"replicas": trainer.replicas, "chief": trainer.chief,
                  "step": int(trainer.state.step.numpy()),
                  "checksum": float(sum(np.float64(w).sum() for w in weights.values())),
                  "val_accuracy": trainer.history["val_accuracy"]}), flush=True)
