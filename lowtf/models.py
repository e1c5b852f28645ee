"""How lowtf calls a model: `model(x, training=...)` when its call accepts `training`.

A model is any object with `trainable_variables` and `__call__` (usually a `tf.Module`).
Layers that behave differently while training (dropout, batch statistics) need to
know which call is which: lowtf passes `training=True` in training steps and
`training=False` in evaluation, prediction and export. A model whose call takes no
`training` argument is called with its input alone.
"""

import inspect


def accepts_training(model):
    """Whether `model(x, training=...)` is a valid call (a `training` or `**kwargs` parameter)."""
    try:
        parameters = inspect.signature(model).parameters
    except (TypeError, ValueError):  # no signature to read: call it the plain way
        return False
    return "training" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def call_model(model, x, training):
    """`model(x, training=training)`, or `model(x)` for a model that takes no `training`."""
    if accepts_training(model):
        return model(x, training=training)
    return model(x)
