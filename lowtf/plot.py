"""Loss and accuracy curves of one or more runs as a PNG, for papers and READMEs.

    lt.plot.plot_runs(["logs/run_a", "logs/run_b"], "curves.png")
    lt.plot.plot_runs(["logs/lab_learning_rate"], "lr.png", splits=("validation",))  # a whole sweep

Reads each run's `history.json` (one value per epoch, written by the Trainer). A folder
that is not a run but holds runs (a sweep) stands for all of them. Runs are coloured
with `lowtf.figures`' colour-blind-safe palette (Okabe-Ito; viridis beyond 8 runs), train
solid and validation dashed. matplotlib is imported only when a plot is drawn, through a
`Figure` of its own (no pyplot state).
"""

import os

from lowtf import figures
from lowtf import history as run_history
from lowtf.errors import ConfigError
from lowtf.run_dir import RunDir, SweepDir

SPLIT_PREFIX = {"train": "", "validation": "val_"}
# The formats plot_runs writes, by extension, and how a file of each kind begins: an
# existing file is replaced only when it is an image of that kind.
IMAGE_FORMATS = {".png": (b"\x89PNG\r\n\x1a\n",), ".pdf": (b"%PDF",),
                 ".svg": (b"<?xml", b"<svg")}


def check_output(output):
    """Returns `output` as a path if it names an image plot_runs may write, else raises.

    The extension decides the format (.png, .pdf or .svg; matplotlib would otherwise add
    .png to a name without one, or fail on others), and an existing file is replaced
    only when it is an image of that format, so a typo cannot destroy another file.
    """
    output = os.fspath(output)
    extension = os.path.splitext(output)[1].lower()
    if extension not in IMAGE_FORMATS:
        raise ConfigError(f"plot output {output!r} is not an image name; end it in "
                          f"{', '.join(IMAGE_FORMATS)} (e.g. {os.path.splitext(output)[0]}.png)")
    if os.path.isdir(output):
        raise ConfigError(f"plot output {output!r} is a folder; name an image file in it, "
                          f"e.g. {os.path.join(output, 'curves.png')}")
    if os.path.lexists(output):
        try:
            with open(output, "rb") as f:
                head = f.read(64).lstrip()
        except OSError as e:
            raise ConfigError(f"cannot read the existing plot output {output!r} ({e}); "
                              "choose another name") from None
        if not head.startswith(IMAGE_FORMATS[extension]):
            raise ConfigError(f"{output!r} exists and is not a {extension[1:].upper()} image; "
                              "lowtf does not replace it: choose another name or remove it")
    return output


def find_runs(paths):
    """`[(label, run_dir)]`: each path that holds a `history.json`, or the runs one level
    below it (a sweep's trials), labelled by their folder names."""
    runs = []
    for path in paths:
        path = os.fspath(path).rstrip("/") or "/"
        if RunDir(path).is_run():
            runs.append((os.path.basename(os.path.abspath(path)), path))
            continue
        folder = SweepDir(path)
        children = sorted(d for d in (os.listdir(path) if os.path.isdir(path) else [])
                          if folder.trial(d).is_run())
        if not children:
            raise ConfigError(f"{path!r} is not a lowtf run (no history.json) and holds no "
                              "runs; pass run directories such as logs/fashion_mnist_dnn")
        order = folder.trial_order()
        children.sort(key=lambda d: order.get(d, len(order)))
        runs += [(d, folder.trial(d).path) for d in children]
    if not runs:
        raise ConfigError("no runs to plot")
    return runs


def plot_runs(paths, output="curves.png", metrics=("loss", "accuracy"),
              splits=("train", "validation"), title=None, x="epoch", dpi=100, width=5.0,
              height=3.6):
    """Draws `metrics` (one panel each) of the runs at `paths` and saves an image.

    Args:
        paths: run directories, or folders holding runs (a sweep).
        output: a .png, .pdf or .svg file (by extension; see `check_output`).
        metrics: history keys without the `val_` prefix, e.g. `("loss", "accuracy")`.
        splits: `train` (solid lines) and/or `validation` (dashed).
        x: `epoch` or `step`.

    Returns:
        `output`.
    """
    output = check_output(output)
    from matplotlib import ticker

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    runs = find_runs(paths)
    unknown = set(splits) - set(SPLIT_PREFIX)
    if unknown or not splits:
        raise ConfigError(f"splits must be among {sorted(SPLIT_PREFIX)}, got {list(splits)}")
    if x not in ("epoch", "step"):
        raise ConfigError(f"x must be 'epoch' or 'step', got {x!r}")
    histories = [(label, run_history.read(run)) for label, run in runs]
    figure = figures.new_figure(width * len(metrics), height, dpi=dpi)
    axes = figure.subplots(1, len(metrics), squeeze=False)
    colors = figures.run_colors(len(runs))
    drawn = 0
    for axis, metric in zip(axes[0], metrics):
        for i, (label, history) in enumerate(histories):
            for split in splits:
                values = history.get(SPLIT_PREFIX[split] + metric)
                if not values:
                    continue
                xs = history.get(x) or list(range(1, len(values) + 1))
                name = label if len(splits) == 1 else f"{label} ({split})"
                axis.plot(xs[:len(values)], values, color=colors[i % len(colors)],
                          linestyle="-" if split == "train" else "--", linewidth=1.4,
                          marker="o" if len(values) == 1 else None, markersize=3, label=name)
                drawn += 1
        axis.set_xlabel(x)
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axis.set_ylabel(metric.replace("_", " "))
        axis.grid(True, alpha=0.3)
        if metric == "loss":
            top = [v for _, h in histories for s in splits
                   for v in (h.get(SPLIT_PREFIX[s] + metric) or []) if v == v]
            if top and max(top) > 20 * sorted(top)[len(top) // 2]:
                axis.set_yscale("log")
    if not drawn:
        raise ConfigError(f"the runs have none of the metrics {list(metrics)} for splits "
                          f"{list(splits)}")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[0][-1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9,
                  frameon=False)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        figure.savefig(output, dpi=dpi, bbox_inches="tight")
    except OSError as e:
        raise ConfigError(f"cannot write {output!r} ({e.strerror or e}); choose a writable "
                          "place") from None
    return output
