"""Every technique at once survives `kill -9`: dropout, batch norm, a warmup+cosine schedule,
gradient clipping, weight decay, L2, gradient accumulation and EMA, killed twice and
resumed, end bit-identical to the run that was never interrupted."""

import json

import pytest
import tensorflow as tf

from conftest import make_classification
from test_resume import assert_same_checkpoint, straight_and_killed


SCRIPT = """
import sys
import numpy as np
import lowtf as lt
from lowtf.determinism import enable_determinism

L, S = lt.layers, lt.optimizers.schedules


def model():
    return L.Sequential([L.Dense(32, kernel_initializer="he", seed=1), L.BatchNorm(),
                         L.Activation("relu"), L.Dropout(0.3, seed=2),
                         L.Dense(10, seed=3)], input_shape=(784,))


enable_determinism(3)
data = np.load(sys.argv[2])
schedule = S.Warmup(15, after=S.CosineDecay(0.01, 45))
trainer = lt.Trainer(model, optimizer=lt.optimizers.AdamW(schedule, weight_decay=0.01,
                                                          global_clipnorm=0.5),
                     run_dir=sys.argv[1], steps_per_call=1, l2=1e-4, accumulate=2, ema=0.9,
                     log_every_steps=3)
trainer.fit((data["x"], data["y"]), (data["xv"], data["yv"]), epochs=6, batch_size=10,
            save_every_steps=2, eval_every_steps=5)
"""


@pytest.mark.numerics
def test_all_techniques_at_once_resume_bit_identically_after_kills(tmp_path):
    x, y = make_classification(300, seed=5)
    # 10 updates an epoch: killed mid-epoch 2 and mid-epoch 4
    straight, killed, _ = straight_and_killed(
        tmp_path, SCRIPT, dict(x=x[:200], y=y[:200], xv=x[200:], yv=y[200:]),
        kill_at=(14, 34))
    histories = [json.loads((d / "history.json").read_text()) for d in (straight, killed)]
    rates = histories[0]["learning_rate"]
    assert rates[0] < max(rates) and rates[-1] < max(rates)  # warmed up, then decayed
    for key in ("loss", "l2_loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert histories[1][key] == histories[0][key], key
    final = [tf.train.latest_checkpoint(str(d / "checkpoints")) for d in (straight, killed)]
    assert_same_checkpoint(*final)
    keys = tf.train.load_checkpoint(final[0]).get_variable_to_shape_map()
    for part in ("ema/averages", "moving_mean", "dropout_1/generator", "learning_rate_scale"):
        assert any(part in k for k in keys), f"{part} is not in the checkpoint"
