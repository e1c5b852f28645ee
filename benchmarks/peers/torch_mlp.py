#!/usr/bin/env python
"""PyTorch training of the reference MLP, eager or `torch.compile`d, for
`benchmarks/peer_speed.py`.

The usual PyTorch loop on resident tensors: each epoch a `torch.randperm`, each step a
batch gathered by index, `cross_entropy`, `backward()` and `torch.optim.SGD.step()`;
full batches only (as lowtf: `N // B` steps an epoch), `torch.set_num_threads` = the
usable cores. `--compile` compiles the model with its loss (forward and backward,
through AOTAutograd and Inductor's C++ code) and the optimizer step. A compile that
fails is reported as the variant's error, not a crash. Imports numpy and PyTorch only.
"""

import numpy as np
import torch
import torch.nn.functional as F

import worker


class MLP(torch.nn.Module):
    """784-300-100-10 ReLU; `torch.nn.Linear` keeps kernels as [outputs, inputs]."""

    def __init__(self, weights):
        super().__init__()
        self.layers = torch.nn.ModuleList()
        for kernel, bias in zip(weights[0::2], weights[1::2]):
            layer = torch.nn.Linear(*kernel.shape)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
                layer.bias.copy_(torch.from_numpy(bias))
            self.layers.append(layer)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x

    def numpy_weights(self):
        return [a for l in self.layers
                for a in (l.weight.detach().numpy().T, l.bias.detach().numpy())]


def make_step(model, learning_rate, compile_mode):
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

    def loss_of(x, y):
        return F.cross_entropy(model(x), y)

    def update():
        optimizer.step()

    if compile_mode != "none":
        kwargs = {} if compile_mode == "default" else {"mode": compile_mode}
        loss_of = torch.compile(loss_of, dynamic=False, **kwargs)
        update = torch.compile(update, dynamic=False, **kwargs)

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(x, y)
        loss.backward()
        update()
        return loss.detach()

    return step


def options(p):
    p.add_argument("--compile", default="none",
                   help="none (eager), default, or a torch.compile mode such as reduce-overhead")
    p.add_argument("--resident", choices=("uint8", "float32"), default="float32",
                   help="the training set in memory: float32 in [0, 1], or uint8 scaled per batch")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: usable cores)")


def main():
    args = worker.parse_args(__doc__.splitlines()[0], options)
    threads = args.threads or worker.usable_cores()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    name = "eager" if args.compile == "none" else f"torch.compile({args.compile})"
    facts = {"framework": "torch", "version": torch.__version__, "torch_threads": threads,
             "form": f"{name}, {args.resident} resident, torch.optim.SGD"}
    x, y, weights = worker.load(args.data)
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255) if args.resident == "float32" else x)
    y = torch.from_numpy(y.astype(np.int64))
    model = MLP(weights)
    steps, b = len(x) // args.batch_size, args.batch_size
    clock = worker.EpochClock()
    try:
        step = make_step(model, args.learning_rate, args.compile)
        for _ in range(1 + args.epochs):
            with clock:
                order = torch.randperm(len(x))
                total = torch.zeros(())
                for i in range(steps):
                    idx = order[i * b:(i + 1) * b]
                    xb = x[idx]
                    if xb.dtype == torch.uint8:
                        xb = xb.float().div_(255)
                    total += step(xb, y[idx])
                loss = float(total) / steps
    except Exception as e:  # a compiler or backend failure: recorded, the run goes on
        worker.report_error(e, **facts)
        return
    worker.report(clock, steps * b, loss, model.numpy_weights(), args.weights_out, **facts)


if __name__ == "__main__":
    main()
