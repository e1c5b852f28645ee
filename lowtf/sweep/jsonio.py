"""JSON helpers shared by the sweep modules: values made JSON-safe (tuples as lists,
anything else as text). Files that may be missing or half-written are read through
`lowtf.run_dir`.
"""

import json


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple)
                                 else str(v)))
