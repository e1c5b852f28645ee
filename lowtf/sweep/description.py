"""`sweep.json`: what a sweep is (its settings and trials, in order), written when it trains.

TensorBoard's HParams dashboard needs nothing from the sweep: every run writes its own
session (values, best validation metrics, how it ended; `lowtf.actions.TensorBoard`),
and TensorBoard builds the table's columns from all the runs it is shown, so runs of
several sweeps, or from outside any sweep, share one table. A search space written at
the sweep root (`hp.hparams_config`, what sweeps wrote before) would hide every column
but that sweep's: such files are removed.
"""

import dataclasses
import os

from lowtf.run_dir import SweepDir
from lowtf.sweep.jsonio import _jsonable


def write_description(sweep, trials):
    """Writes `<sweep>/sweep.json` and removes a search space an earlier version wrote."""
    os.makedirs(sweep.root, exist_ok=True)
    folder = SweepDir(sweep.root)
    for path in folder.hparams_config_files():
        os.remove(path)
    info = {"name": sweep.name, "description": sweep.description,
            "base": _jsonable(sweep.base.as_record()),
            "grid": _jsonable(sweep.grid), "random": _jsonable(
                {k: (dataclasses.asdict(v) | {"kind": type(v).__name__})
                 if dataclasses.is_dataclass(v) else v for k, v in sweep.random.items()}),
            "n_trials": sweep.n_trials, "configs": _jsonable(sweep.configs),
            "seed": sweep.seed, "rank_by": sweep.rank_by,
            "trials": [t.id for t in trials]}
    folder.write_description(info)
