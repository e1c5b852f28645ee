"""A sweep read back from its directory alone (`report_sweep_dir`): the trials its
`sweep.json` lists, each row read from the trial's run folder, ranked and saved again.
Nothing is trained, and neither the experiment nor the grid that made the sweep is needed.
"""

import dataclasses
import os

from lowtf.errors import ConfigError
from lowtf.run_dir import SweepDir
from lowtf.sweep.results import RANK_BY, SweepResult, check_rank_by
from lowtf.sweep.running import folder_row
from lowtf.sweep.space import DASHBOARD_NAMES, dashboard_value, split_dotted

_GIVE_THE_FOLDER = "give the folder `lowtf sweep` printed, e.g. logs/<name>"


@dataclasses.dataclass(frozen=True)
class SweepOnDisk:
    """What `SweepResult` needs of a sweep, as its `sweep.json` records it."""

    name: str
    root: str
    swept: tuple
    rank_by: str
    trial_ids: tuple


def open_sweep_dir(path, rank_by=None):
    """The `SweepOnDisk` of a sweep directory; a ConfigError naming the fix if `path` is
    not one. `rank_by` overrides the sweep's own (a test ranking it once had becomes
    `val_accuracy`: trials are chosen on validation)."""
    path = os.fspath(path)
    folder = SweepDir(path)
    if not os.path.isdir(path):
        raise ConfigError(f"{path} does not exist: {_GIVE_THE_FOLDER}")
    description = folder.read_description()
    if description is None:
        why = "its sweep.json is damaged" if os.path.exists(folder.description) \
            else "no sweep.json"
        raise ConfigError(f"{path} is not a sweep directory ({why}): {_GIVE_THE_FOLDER}")
    if not isinstance(description.get("trials"), list):
        raise ConfigError(f"{folder.description} lists no trials; run the sweep again to "
                          "rewrite it")
    stored = description.get("rank_by")
    rank_by = check_rank_by(rank_by) if rank_by else \
        stored if stored in RANK_BY else "val_accuracy"
    return SweepOnDisk(name=description.get("name") or os.path.basename(path.rstrip(os.sep)),
                       root=path, swept=_swept(description), rank_by=rank_by,
                       trial_ids=tuple(description["trials"]))


def _swept(description):
    """The swept parameters in `Sweep.swept`'s order: configs, grid, random."""
    keys = []
    for space in [*(description.get("configs") or []), description.get("grid") or {},
                  description.get("random") or {}]:
        keys += [k for k in space if k not in keys]
    return tuple(keys)


def _values(sweep, row_before, record):
    """A trial's swept values: as the sweep's last table had them, else from the
    experiment its run recorded (a trial that never ran has none)."""
    values = {}
    for key in sweep.swept:
        name = DASHBOARD_NAMES.get(key, key)
        if name in row_before:
            values[name] = row_before[name]
            continue
        dotted = split_dotted(key)
        value = (record.get(dotted[0]) or {}).get(dotted[1]) if dotted else record.get(key)
        if value is not None:  # JSON gives lists where the live trial has tuples
            values[name] = dashboard_value(tuple(value) if isinstance(value, list) else value)
    return values


def report_sweep_dir(path, rank_by=None, verbose=1):
    """Ranks the trials of the sweep directory `path` as they are on disk, rewrites its
    results.csv and results.json, and prints the report (`verbose`); returns the
    `SweepResult`."""
    sweep = open_sweep_dir(path, rank_by)
    folder = SweepDir(sweep.root)
    before = {r.get("trial"): r for r in (folder.read_results() or {}).get("trials", [])}
    rows = []
    for trial_id in sweep.trial_ids:
        run = folder.trial(trial_id)
        row_before = before.get(trial_id, {})
        record = (run.read_results() or {}).get("experiment") or {}
        rows.append(folder_row(trial_id, run.path, _values(sweep, row_before, record),
                               row_before.get("n_params")))
    result = SweepResult(sweep, rows)
    result.save()
    if verbose:
        print(result.report(), flush=True)
    return result
