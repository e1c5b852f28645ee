"""What a resumed or failing run keeps straight: its settings, its history, its verdict.

Resuming with other early-stopping settings is refused.
"""

import pytest

import lowtf as lt
from conftest import make_prototype_data

TRAIN, VALIDATION = make_prototype_data(n=160, n_train=100, noise=0.35, seed=4)


def make_trainer(run_dir, lr=0.01):
    return lt.Trainer(lt.dnn(784, (8,), 10, seed=3), optimizer=lt.SGD(lr), run_dir=run_dir,
                      seed=5, verbose=0, xla=False, steps_per_call=2, eval_batch_size=100)


def fit(trainer, epochs, early_stopping=None, **kw):
    return trainer.fit(TRAIN, VALIDATION, epochs=epochs, batch_size=20,
                       early_stopping=early_stopping, **kw)


# ---- early stopping is part of the run's configuration ----------------------------------

@pytest.mark.parametrize("now", [None, lt.EarlyStopping(patience=4),
                                 lt.EarlyStopping(monitor="val_loss", patience=3)])
def test_resuming_with_other_early_stopping_is_refused(tmp_path, now):
    fit(make_trainer(tmp_path), 1, lt.EarlyStopping(patience=3))
    with pytest.raises(lt.CheckpointError, match=r"different configuration \(early_stopping: "
                                                 r"checkpoint .*patience.*3.* vs now"):
        fit(make_trainer(tmp_path), 2, now)
    history = fit(make_trainer(tmp_path), 2, lt.EarlyStopping(patience=3))  # same: resumes
    assert history["epoch"] == [1, 2]
