"""JSON helpers shared by the sweep modules: values made JSON-safe (tuples as lists,
anything else as text), and files read that may be missing or half-written.
"""

import json


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple)
                                 else str(v)))


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
