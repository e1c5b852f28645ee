"""JSON helpers shared by the sweep modules: values made JSON-safe (tuples as lists,
schedules as their configs, anything else as text). Files that may be missing or
half-written are read through `lowtf.run_dir`.
"""

import json


def _default(value):
    if isinstance(value, tuple):
        return list(value)
    for method in ("config", "get_config"):  # a swept schedule (with its label), a schedule
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    return str(value)


def _jsonable(value):
    return json.loads(json.dumps(value, default=_default))
