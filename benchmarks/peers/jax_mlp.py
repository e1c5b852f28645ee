#!/usr/bin/env python
"""JAX's strongest form of the reference MLP's training, for `benchmarks/peer_speed.py`.

A whole epoch is one `jax.jit` call: the epoch's permutation (`jax.random.permutation`)
is drawn inside it and `lax.scan` runs the steps over the resident training set, so no
Python runs between steps. Plain SGD on sparse softmax cross-entropy, full batches only
(as lowtf: `N // B` steps an epoch). Imports numpy and JAX only.
"""

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax import lax

import worker


def loss_fn(params, x, y):
    """Mean sparse softmax cross-entropy of the logits of `x` (float32 [B, 784])."""
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = jax.nn.relu(h)
    logp = jax.nn.log_softmax(h)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def make_epoch(n, batch_size, learning_rate, gather):
    """`epoch(params, x, y, key) -> (params, mean loss)`, jitted.

    `gather="step"` gathers each batch from the resident set inside the scan body;
    `gather="epoch"` permutes the whole set once and scans over its batches.
    """
    steps = n // batch_size
    grad = jax.value_and_grad(loss_fn)

    def sgd(params, xb, yb):
        xb = xb.astype(jnp.float32) / 255.0 if xb.dtype == jnp.uint8 else xb
        loss, grads = grad(params, xb, yb)
        return [p - learning_rate * g for p, g in zip(params, grads)], loss

    def epoch(params, x, y, key):
        order = jax.random.permutation(key, n)[:steps * batch_size]
        if gather == "step":
            def body(params, idx):
                return sgd(params, x[idx], y[idx])
            params, losses = lax.scan(body, params, order.reshape(steps, batch_size))
        else:
            xs = x[order].reshape(steps, batch_size, x.shape[1])
            ys = y[order].reshape(steps, batch_size)

            def body(params, batch):
                return sgd(params, *batch)
            params, losses = lax.scan(body, params, (xs, ys))
        return params, jnp.mean(losses)

    return jax.jit(epoch, donate_argnums=0), steps * batch_size


def options(p):
    p.add_argument("--resident", choices=("uint8", "float32"), default="uint8",
                   help="the training set on the device: uint8 (scaled per batch) or float32")
    p.add_argument("--gather", choices=("step", "epoch"), default="step",
                   help="gather each batch inside the scan, or permute the whole set first")


def main():
    args = worker.parse_args(__doc__.splitlines()[0], options)
    facts = {"framework": "jax", "version": jax.__version__, "jaxlib": jaxlib.__version__,
             "backend": jax.default_backend(),
             "form": f"jit(epoch: permutation + lax.scan), {args.resident} resident, "
                     f"gather per {args.gather}"}
    x, y, weights = worker.load(args.data)
    x = x.astype(np.float32) / np.float32(255) if args.resident == "float32" else x
    x, y = jnp.asarray(x), jnp.asarray(y)
    params = [jnp.asarray(w) for w in weights]
    epoch, samples = make_epoch(len(x), args.batch_size, args.learning_rate, args.gather)
    key = jax.random.PRNGKey(args.seed)
    clock = worker.EpochClock()
    for e in range(1 + args.epochs):
        with clock:
            params, loss = epoch(params, x, y, jax.random.fold_in(key, e))
            loss = float(loss)  # waits for the epoch
    worker.report(clock, samples, loss, [np.asarray(p) for p in params], args.weights_out, **facts)


if __name__ == "__main__":
    main()
