"""Actions: the user's own code in the loop, every N steps, every epoch, on a new best and
at the end; their tf.Variable state is checkpointed, so a killed run resumes exactly.

The plateau action is the README's, executed as written there.
"""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from conftest import make_classification
from test_resume import assert_same_checkpoint, straight_and_killed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trainer_for(run_dir=None, **kw):
    return lt.Trainer(lt.dnn(784, (16,), 10, seed=0), optimizer=lt.optimizers.SGD(0.1), run_dir=run_dir,
                      verbose=0, steps_per_call=4, xla=False, **kw)


def data(n=300):
    x, y = make_classification(n + 100)
    return (x[:n], y[:n]), (x[n:], y[n:])


def test_actions_run_at_their_steps_and_epochs_also_across_a_resume(tmp_path):
    train, val = data()   # 300 examples, batches of 50: 6 steps an epoch
    seen = {"steps": [], "epochs": [], "best": [], "end": 0}

    def make_actions():
        return [lt.actions.Every(lambda run, logs: seen["steps"].append(run.step), steps=5,
                                 name="every5"),
                lambda run, logs: seen["epochs"].append((run.epoch, round(logs["val_loss"], 6))),
                lt.actions.OnBest(lambda run, logs: seen["best"].append(run.epoch), name="best"),
                lt.actions.AtEnd(lambda run: seen.__setitem__("end", seen["end"] + 1))]

    trainer_for(tmp_path).fit(train, val, epochs=2, batch_size=50, actions=make_actions())
    trainer_for(tmp_path).fit(train, val, epochs=4, batch_size=50, actions=make_actions())
    assert seen["steps"] == [5, 10, 15, 20]
    assert [e for e, _ in seen["epochs"]] == [1, 2, 3, 4]
    history = json.loads((tmp_path / "history.json").read_text())
    assert [v for _, v in seen["epochs"]] == [round(v, 6) for v in history["val_loss"]]
    best = np.maximum.accumulate(history["val_accuracy"])
    assert seen["best"] == [1] + [i + 1 for i in range(1, 4)
                                  if history["val_accuracy"][i] > best[i - 1]]
    assert seen["end"] == 2


class Counter(lt.actions.Action):
    """Counts epochs in a tf.Variable: state the checkpoint must carry."""

    def __init__(self):
        super().__init__(name="counter")
        self.count = tf.Variable(0, dtype=tf.int64)

    def on_epoch(self, run, logs):
        self.count.assign_add(1)


def test_action_state_is_saved_and_restored_with_the_run(tmp_path):
    train, val = data()
    trainer_for(tmp_path).fit(train, val, epochs=2, batch_size=50, actions=[Counter()])
    counter = Counter()
    trainer_for(tmp_path).fit(train, val, epochs=3, batch_size=50, actions=[counter])
    assert int(counter.count.numpy()) == 3
    assert "actions/counter/count/.ATTRIBUTES/VARIABLE_VALUE" in tf.train.load_checkpoint(
        str(tmp_path / "checkpoints" / "ckpt-18")).get_variable_to_shape_map()


def test_a_stateful_action_added_on_resume_is_refused_by_name(tmp_path):
    train, val = data()
    trainer_for(tmp_path).fit(train, val, epochs=1, batch_size=50)
    with pytest.raises(lt.CheckpointError, match=r"no state for the action\(s\) \['counter'\]"):
        trainer_for(tmp_path).fit(train, val, epochs=2, batch_size=50, actions=[Counter()])
    history = trainer_for(tmp_path).fit(train, val, epochs=2, batch_size=50,
                                        actions=[lambda run, logs: None])  # stateless: fine
    assert history["epoch"] == [1, 2]


def test_an_action_can_stop_the_run():
    train, val = data()
    history = trainer_for().fit(train, val, epochs=5, batch_size=50, actions=[
        lambda run, logs: run.stop("enough") if run.epoch == 2 else None])
    assert history["epoch"] == [1, 2]


def test_an_error_in_an_action_is_the_users_own():
    train, _ = data()

    def broken(run, logs):
        raise KeyError("no such metric: f1")

    with pytest.raises(KeyError, match="no such metric: f1") as info:
        trainer_for().fit(train, epochs=2, batch_size=50, actions=[broken])
    if hasattr(info.value, "__notes__"):
        assert any("action 'broken'" in n and "epoch 1" in n for n in info.value.__notes__)


def test_bad_actions_are_refused():
    train, _ = data()
    with pytest.raises(lt.ConfigError, match="two actions are named 'counter'"):
        trainer_for().fit(train, batch_size=50, actions=[Counter(), Counter()])
    with pytest.raises(lt.ConfigError, match="must be a lowtf.actions.Action or a function"):
        trainer_for().fit(train, batch_size=50, actions=[42])
    with pytest.raises(lt.ConfigError, match="every_steps must be an int >= 1"):
        lt.actions.Every(print, steps=0)


def test_changing_the_learning_rate_between_fits_does_not_break_resume(tmp_path):
    train, val = data()
    trainer = trainer_for(tmp_path)
    trainer.fit(train, val, epochs=1, batch_size=50)
    trainer.optimizer.learning_rate = 0.01
    trainer.fit(train, val, epochs=2, batch_size=50)
    resumed = trainer_for(tmp_path)
    assert resumed.fit(train, val, epochs=3, batch_size=50)["learning_rate"] == \
        pytest.approx([0.1, 0.01, 0.01])


# ---- the README's plateau action, killed and resumed ---------------------------------------

def readme_plateau_action():
    text = open(os.path.join(REPO, "README.md")).read()
    block = re.search(r"<!-- plateau-action -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README.md lost its plateau action example"
    return block.group(1)


SCRIPT = """
import sys
import numpy as np
import lowtf as lt
from lowtf.determinism import enable_determinism
{action}
enable_determinism(3)
data = np.load(sys.argv[2])
trainer = lt.Trainer(lambda: lt.dnn(784, (64,), 10, seed=3), optimizer=lt.optimizers.SGD(0.5),
                     run_dir=sys.argv[1], steps_per_call=1)
trainer.fit((data["x"], data["y"]), (data["xv"], data["yv"]), epochs=8, batch_size=20,
            save_every_steps=4, actions=[LowerOnPlateau(patience=1)])
"""


@pytest.mark.numerics
def test_the_readme_plateau_action_resumes_exactly_after_a_kill(tmp_path):
    x, y = make_classification(300, seed=4)
    # 10 steps an epoch: killed mid-epoch 3 and mid-epoch 6
    straight, killed, _ = straight_and_killed(
        tmp_path, SCRIPT.format(action=readme_plateau_action()),
        dict(x=x[:200], y=y[:200], xv=x[200:], yv=y[200:]), kill_at=(23, 51))
    histories = [json.loads((d / "history.json").read_text()) for d in (straight, killed)]
    rates = histories[0]["learning_rate"]
    assert min(rates) < rates[0], f"the plateau never came: {rates}"  # the action acted
    assert histories[1]["learning_rate"] == rates
    assert histories[1]["val_loss"] == histories[0]["val_loss"]
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints")),
                           tf.train.latest_checkpoint(str(killed / "checkpoints")))
