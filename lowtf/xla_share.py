"""One XLA compilation for every trainer whose traced loop is the same.

TensorFlow keeps every XLA executable it compiles for the life of the process: its
compilation cache has no eviction (tensorflow#64170) and no Python API empties it. Each
new trainer traces a new `tf.function`, whose unique name misses the cache, so a sweep's
trials or a notebook's retrainings grew ~7-11 MiB a run, run after run.

Here a trainer still traces its own loop (cheap; it closes over its own variables), but
if the traced graph is the same as an earlier trainer's, names aside, the earlier
trace's function is called instead, with this trainer's captured inputs (its variables
and data) as arguments: same name, so XLA finds its executable. Graphs that differ in
anything but names (an op, a shape, a constant, an attribute) are never shared.

This uses TensorFlow internals (`ConcreteFunction._inference_function`, `call_flat`);
where they are missing the loop simply runs unshared.
"""

import hashlib

from tensorflow.python.eager import context

_SHARED = {}  # (eager context, fingerprint) -> the first such trace's AtomicFunction


def fingerprint(concrete):
    """A digest of a traced function and every function it calls, with each name
    (function, argument, node) replaced by its order of first appearance, plus the
    dtypes and shapes of its captured inputs."""
    library = {f.signature.name: f for f in concrete.graph.as_graph_def().library.function}
    outer = concrete.function_def
    library[outer.signature.name] = outer
    nodes, functions, order, parts = {}, {}, [], []

    def node_id(name):
        return nodes.setdefault(name, f"n{len(nodes)}")

    def function_id(name):
        return functions.setdefault(name, f"f{len(functions)}")

    def ref(s):  # "^node", "loc:@node", "node:output:0", "arg"
        if s.startswith("^"):
            return "^" + ref(s[1:])
        if s.startswith("loc:@"):
            return "loc:@" + ref(s[5:])
        head, sep, rest = s.partition(":")
        return node_id(head) + sep + rest

    def rename_functions(attr, todo):
        if attr.HasField("func"):
            todo.append(attr.func.name)
            attr.func.name = function_id(attr.func.name)
        for f in attr.list.func:
            todo.append(f.name)
            f.name = function_id(f.name)

    def visit(name):
        if name in order or name not in library:
            return
        order.append(name)
        f = type(library[name])()
        f.CopyFrom(library[name])
        f.signature.name = function_id(name)
        for arg in list(f.signature.input_arg) + list(f.signature.output_arg):
            arg.name = node_id(arg.name)
        for i, c in enumerate(f.signature.control_output):
            f.signature.control_output[i] = node_id(c)
        todo = []
        for node in f.node_def:
            node.name = node_id(node.name)
            for i, s in enumerate(node.input):
                node.input[i] = ref(s)
            for key in sorted(node.attr):
                rename_functions(node.attr[key], todo)
                if key == "_class":
                    values = node.attr[key].list.s
                    for i, s in enumerate(values):
                        values[i] = ref(s.decode()).encode()
        for key in sorted(f.attr):
            rename_functions(f.attr[key], todo)
        for i in sorted(f.arg_attr):
            attrs = f.arg_attr[i].attr
            if "_user_specified_name" in attrs:  # unique per trace, like the node names
                attrs["_user_specified_name"].s = node_id(
                    attrs["_user_specified_name"].s.decode()).encode()
        returns = sorted((node_id(k), ref(v)) for k, v in f.ret.items())
        control = sorted((node_id(k), node_id(v)) for k, v in f.control_ret.items())
        f.ClearField("ret")
        f.ClearField("control_ret")
        parts.append(f.SerializeToString(deterministic=True) + repr((returns, control)).encode())
        for t in todo:
            visit(t)

    visit(outer.signature.name)
    parts.append(repr([(t.dtype.name, tuple(t.shape)) for t in concrete.captured_inputs])
                 .encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


class SharedCompiled:
    """Stands in for a `jit_compile=True` `tf.function` with an input signature.

    Attributes:
        shared: after the first call, whether an earlier trainer's compiled loop runs.
    """

    def __init__(self, fn):
        self.fn = fn
        self.shared = None
        self._atomic = self._concrete = None

    def __call__(self, *args):
        if self._atomic is None:
            self._atomic = self._find()
        if self._atomic is False:
            return self.fn(*args)
        return self._atomic.call_flat(*args, *self._concrete.captured_inputs)

    def _find(self):
        concrete = self.fn.get_concrete_function()
        try:
            own = concrete._inference_function
            key = (id(context.context()), fingerprint(concrete))
        except (AttributeError, TypeError, ValueError):  # other TensorFlow internals
            self.shared = False
            return False
        self._concrete = concrete
        atomic = _SHARED.setdefault(key, own)
        self.shared = atomic is not own
        if not self.shared:
            own._cached_graph = None  # the cache must not keep this run's data alive
        return atomic

    def get_concrete_function(self, *args, **kwargs):
        return self.fn.get_concrete_function(*args, **kwargs)


def shared_if_compiled(fn, jit_compile):
    """`fn` (a `tf.function` with an input signature), shared when it is XLA-compiled."""
    return SharedCompiled(fn) if jit_compile else fn


def cached_loops():
    """How many distinct compiled loops this process holds (for tests and benchmarks)."""
    return len(_SHARED)

