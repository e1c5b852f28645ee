"""What a person sees in TensorBoard's Scalars, Images and HParams tabs over real runs.

Two runs on the real Fashion-MNIST (two epochs each, a few seconds) share one logdir:
`api_run`, trained with the Python API on `lt.load_dataset` splits and evaluated on the
test set, and `exp_run`, trained by `lt.run_experiment` with other hyperparameters. One
`tensorboard --logdir` serves them; headless Chromium opens each tab and each test checks
one thing a person would look for: both runs and the per-step training curves (Scalars),
the evaluation pictures, loaded (Images), one row per run named after the run with every
hyperparameter and the summary metrics (HParams, table view). Screenshots of each tab go
to `logs/test-artifacts/` (ignored by git) and to pytest's tmp dir.
"""

import base64
import glob
import inspect
import json
import math
import time

import pytest
import tensorflow as tf

import lowtf as lt
from tensorboard_pages import (API_RUN, EXAMPLE_RUNS, EXP_RUN, Chromium, find_chromium,
                               get_json, hparams_columns, hparams_table, image_states, keep,
                               open_categories, png_dimensions, resize, scalars, serve, show,
                               train_example_runs)

RUNS = (API_RUN, EXP_RUN)
EPOCHS = 2
TRAIN_TAGS = ("loss", "accuracy", "learning_rate", "gradient_norm", "examples_per_second")
IMAGE_TAGS = ("samples", "confident_mistakes", "confusion_matrix")
HPARAMS = ("optimizer", "learning_rate", "batch_size", "epochs", "seed", "layers",
           "activation", "dataset")
WIDTH, HEIGHT = 1400, 900
needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """The two real runs: the Python API's and run_experiment's (`train_example_runs`)."""
    logs = tmp_path_factory.mktemp("dashboard") / "logs"
    assert train_example_runs(logs, epochs=EPOCHS) == list(RUNS)
    return logs


@pytest.fixture(scope="module")
def server(logdir, tmp_path_factory):
    wanted = [f"{run}/{split}" for run in RUNS for split in ("train", "validation")]
    with serve(logdir, runs=wanted,
               log_path=tmp_path_factory.mktemp("tb_log") / "tensorboard.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with Chromium(str(tmp_path_factory.mktemp("chromium_profile")), WIDTH, HEIGHT) as chromium:
        yield chromium


def history(logdir, run):
    with open(logdir / run / "history.json") as f:
        return json.load(f)


def screenshot(browser, tmp_path, name):
    shot = browser.screenshot(str(tmp_path / name))
    keep(shot, name)
    assert png_dimensions(shot) == (browser.width, browser.height)
    return shot


def session_groups(server):
    request = {"experimentName": "", "startIndex": 0, "sliceSize": 100,
               "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                   "STATUS_RUNNING"]}
    return get_json(server, "/data/plugin/hparams/session_groups",
                    request=json.dumps(request))["sessionGroups"]


# ---- the contract's defaults -------------------------------------------------------------

def test_trainer_defaults_log_steps_and_draw_images():
    parameters = inspect.signature(lt.Trainer).parameters
    assert parameters["log_every_steps"].default == 100
    assert parameters["image_summaries"].default is True


# ---- Scalars -------------------------------------------------------------------------------

def test_training_scalars_are_per_step(server, logdir):
    """Every N steps, not once an epoch: the loss curve has points within the epochs."""
    tags = get_json(server, "/data/plugin/scalars/tags")
    for run in RUNS:
        steps_per_epoch = math.ceil(55000 / EXAMPLE_RUNS[run]["batch_size"])
        assert history(logdir, run)["step"][-1] == EPOCHS * steps_per_epoch
        loss = scalars(server, f"{run}/train", "loss")
        steps = [p[1] for p in loss]
        assert len(loss) > EPOCHS, (run, steps)
        assert steps == sorted(set(steps))
        every = EXAMPLE_RUNS[run]["log_every_steps"]
        assert len(loss) >= EPOCHS * steps_per_epoch // every, (run, every, steps)
        assert set(TRAIN_TAGS) <= set(tags[f"{run}/train"]), (run, sorted(tags[f"{run}/train"]))
        for tag in TRAIN_TAGS[1:]:
            assert len(scalars(server, f"{run}/train", tag)) > EPOCHS, (run, tag)
        validation = scalars(server, f"{run}/validation", "accuracy")
        assert [p[1] for p in validation] == history(logdir, run)["step"]  # per epoch


@needs_chromium
def test_scalars_tab_shows_both_runs_and_the_training_tags(server, browser, tmp_path):
    runs = [f"{run}/{split}" for run in RUNS for split in ("train", "validation")]
    text = show(browser, server, "scalars", runs + ["loss", "accuracy"], settle=2)
    screenshot(browser, tmp_path, "dashboard_scalars.png")
    for run in runs:
        assert run in text, text[:3000]
    text = browser.wait_for_text(list(TRAIN_TAGS), timeout=5)
    missing = [tag for tag in TRAIN_TAGS if tag not in text]
    assert not missing, (missing, text[:3000])


# ---- Images --------------------------------------------------------------------------------

def loaded_images(browser):
    """`{(run, tag): naturalWidth}` of the image plugin's <img> elements in the page."""
    found = {}
    for image in image_states(browser):
        if "blob_key=" not in image["src"]:
            continue
        key = image["src"].split("blob_key=")[1].split("&")[0]
        _, run, tag, *_ = json.loads(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))
        found[run, tag] = max(found.get((run, tag), 0), image["naturalWidth"])
    return found


def test_evaluate_writes_results_and_test_summaries(server, logdir):
    """`trainer.evaluate(data.test)` on a run with a run_dir leaves its figures in the run."""
    with open(logdir / API_RUN / "results.json") as f:
        results = json.load(f)
    assert results  # what evaluate measured on the test set
    tags = get_json(server, "/data/plugin/scalars/tags")
    for run in RUNS:
        assert {"loss", "accuracy"} <= set(tags.get(f"{run}/test", {})), (run, sorted(tags))


@needs_chromium
def test_images_tab_shows_the_evaluation_pictures(server, browser, tmp_path):
    wanted = {(f"{run}/{split}", tag) for run in RUNS for split in ("validation", "test")
              for tag in IMAGE_TAGS}
    resize(browser, WIDTH, 2600)  # the tab loads only the cards it shows
    try:
        text = show(browser, server, "images", list(IMAGE_TAGS), settle=1)
        for tag in IMAGE_TAGS:
            assert tag in text, text[:3000]
        open_categories(browser, IMAGE_TAGS)  # the third starts collapsed
        deadline = time.monotonic() + 20
        while True:
            found = loaded_images(browser)
            if wanted <= {k for k, width in found.items() if width > 0} \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1)
        screenshot(browser, tmp_path, "dashboard_images.png")
    finally:
        resize(browser, WIDTH, HEIGHT)
    missing = sorted(wanted - {k for k, width in found.items() if width > 0})
    assert not missing, (missing, found)


# ---- HParams -------------------------------------------------------------------------------

def test_hparams_sessions_are_named_after_the_runs(server):
    groups = {g["name"]: g for g in session_groups(server)}
    assert set(groups) == set(RUNS), sorted(groups)
    for run, group in groups.items():
        session = group["sessions"][0]
        assert session["name"] == run
        assert session["status"] == "STATUS_SUCCESS", (run, session["status"])
        assert set(HPARAMS) <= set(group["hparams"]), (run, sorted(group["hparams"]))
        assert group["hparams"]["dataset"] == "fashion_mnist"


def test_no_run_writes_an_hparams_config(logdir, server):
    """TensorBoard infers the columns from all the runs: no experiment summary hides any."""
    configs = []
    for path in glob.glob(str(logdir / "**" / "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            configs += [path for v in event.summary.value if v.tag == "_hparams_/experiment"]
    assert not configs, configs
    experiment = get_json(server, "/data/plugin/hparams/experiment",
                          request=json.dumps({"experimentName": ""}))
    metrics = {(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert {("summary", "best_val_accuracy"), ("summary", "best_val_loss"),
            ("summary", "finished"), ("summary", "epochs_trained"),
            ("validation", "accuracy")} <= metrics, sorted(metrics)


def shown_table(browser, server, rows=len(RUNS), timeout=60):
    """The HParams tab's table view once it has `rows` rows, every column shown."""
    show(browser, server, "hparams", ["Trial ID"], settle=1)
    names = hparams_columns(browser)  # tick every hyperparameter and metric
    deadline = time.monotonic() + timeout
    while True:
        table = hparams_table(browser)
        if table and len(table["rows"]) >= rows and all(n in table["header"] for n in names) \
                or time.monotonic() > deadline:
            return table, names
        time.sleep(0.5)


@needs_chromium
def test_hparams_table_has_one_row_per_run_named_after_it(server, browser, tmp_path):
    table, _ = shown_table(browser, server)
    screenshot(browser, tmp_path, "dashboard_hparams.png")
    assert table and table["header"][0] == "Trial ID", table
    trial_ids = [row[0] for row in table["rows"]]
    assert sorted(trial_ids) == sorted(RUNS), trial_ids


@needs_chromium
def test_hparams_table_has_every_hyperparameter_and_the_summary_metrics(server, browser,
                                                                        logdir):
    table, names = shown_table(browser, server)
    assert table and len(table["rows"]) == len(RUNS), table
    header = table["header"]
    missing = [name for name in HPARAMS if name not in header]
    assert not missing, (missing, header)
    for metric in ("summary.best_val_accuracy", "summary.finished", "validation.accuracy"):
        assert metric in header, (metric, header)
    for row in table["rows"]:
        cells = dict(zip(header, row))
        run = cells["Trial ID"]
        assert float(cells["summary.finished"]) == 1.0, cells
        best = max(history(logdir, run)["val_accuracy"])
        assert float(cells["summary.best_val_accuracy"]) == pytest.approx(best, abs=1e-4)
        trained = EXAMPLE_RUNS[run]
        expected = {"optimizer": trained["optimizer"], "learning_rate": trained["learning_rate"],
                    "batch_size": float(trained["batch_size"]), "seed": float(trained["seed"]),
                    "epochs": float(EPOCHS), "dataset": "fashion_mnist",
                    "layers": "-".join(str(units) for units in trained["hidden"])}
        for name, value in expected.items():
            shown = cells[name]
            if isinstance(value, float):
                assert float(shown) == pytest.approx(value), (run, name, shown)
            else:
                assert shown.lower() == value, (run, name, shown)
