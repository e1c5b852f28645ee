"""Trains the same small DNN on one device and mirrored over 2 logical CPUs; prints JSON."""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lowtf as lt  # noqa: E402
from conftest import make_classification  # noqa: E402
from lowtf.distribute import make_strategy  # noqa: E402

strategy = make_strategy("mirrored", devices=2)
x, y = make_classification(500)
report = {}
for resident in (True, False):
    runs = {}
    for name, strat in (("single", None), ("mirrored", strategy)):
        trainer = lt.Trainer(lambda: lt.dnn(784, (32,), 10, seed=0),
                             optimizer=lt.optimizers.SGD(0.05, momentum=0.9), strategy=strat, verbose=0)
        history = trainer.fit((x, y), (x[:100], y[:100]), epochs=2, batch_size=50,
                              resident=resident)
        runs[name] = (trainer, history)
    (single, hs), (mirrored, hm) = runs["single"], runs["mirrored"]
    ws, wm = single.model.get_weights(), mirrored.model.get_weights()
    report[f"resident={resident}"] = {
        "replicas": mirrored.replicas,
        "max_weight_diff": max(float(np.abs(ws[k] - wm[k]).max()) for k in ws),
        "history": {k: (hs[k], hm[k]) for k in ("loss", "accuracy", "val_accuracy")},
    }
# The loop's techniques (L2, accumulation, EMA) on 2 replicas equal one device.
runs = {}
for name, strat in (("single", None), ("mirrored", strategy)):
    trainer = lt.Trainer(lambda: lt.dnn(784, (32,), 10, seed=0), l2=1e-3, accumulate=2,
                         ema=0.9, optimizer=lt.optimizers.Adam(0.01, global_clipnorm=1.0),
                         strategy=strat, verbose=0)
    history = trainer.fit((x, y), (x[:100], y[:100]), epochs=2, batch_size=50)
    runs[name] = (trainer, history)
(single, hs), (mirrored, hm) = runs["single"], runs["mirrored"]
pairs = [(a.numpy(), b.numpy()) for a, b in zip(
    [*single.model.trainable_variables, *single.loop.ema.averages],
    [*mirrored.model.trainable_variables, *mirrored.loop.ema.averages])]
report["techniques"] = {
    "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in pairs),
    "history": {k: (hs[k], hm[k]) for k in ("loss", "l2_loss", "accuracy", "val_loss")},
}
# A finite loss with NaN gradients (as oneDNN's fused kernels can give) on 2 replicas:
# the update is refused on both, nothing non-finite reaches a weight or a slot.
from test_nonfinite_guard import data, poisoned_loss  # noqa: E402

px, py = data(first_label_zero_at=120)
guarded = lt.Trainer(lambda: lt.dnn(784, (16,), 10, seed=0), loss=poisoned_loss,
                     optimizer=lt.optimizers.Adam(), strategy=strategy, verbose=0, histograms=False)
try:
    guarded.fit((px, py), epochs=1, batch_size=20, shuffle=False)
except lt.NonFiniteLossError as e:
    report["nonfinite_step"] = e.step
values = [v.numpy() for v in guarded.model.trainable_variables] + [
    s.numpy() for slots in guarded.optimizer._slots for s in slots.values()]
report["nonfinite_all_finite"] = all(bool(np.isfinite(v).all()) for v in values)
report["nonfinite_iterations"] = int(guarded.optimizer.iterations.numpy())
try:
    lt.Trainer(lambda: lt.dnn(784, (8,), 10), strategy=strategy, verbose=0).fit(
        (x, y), epochs=1, batch_size=51)
except lt.ConfigError as e:
    report["odd_batch_error"] = str(e)
try:
    lt.Trainer(lt.dnn(784, (8,), 10), strategy=strategy, verbose=0)
except lt.ConfigError as e:
    report["outside_scope_error"] = str(e)
print(json.dumps(report))
