"""A real TensorBoard on our logs: its HTTP data API, and its pages in headless Chromium.

A two-trial sweep (fake Fashion-MNIST, two epochs each) writes the logs; `tensorboard
--logdir` serves them on a loopback port. The API must list our runs, scalars (equal to
the runs' history.json), histograms, images and the sweep's hparams; Chromium must show
our run names on the scalars page and our trials on the HParams page. Screenshots are
kept in `logs/test-artifacts/` (ignored by git) as well as in pytest's tmp dir.
"""

import json
import os
import struct
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from fake_data import write_fake_fashion_mnist
from headless_chromium import FLAGS, Chromium, find_chromium
from lowtf import figures
from tensorboard_pages import get, get_json, keep, png_dimensions, serve, show

TRIALS = ("lr=0.05", "lr=0.2")
IMAGE_TAGS = {"samples", "confident_mistakes", "confusion_matrix"}
needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("tb_server")
    data_dir = write_fake_fashion_mnist(work / "data")
    base = lt.Experiment(hidden=(16,), epochs=2, patience=None, metrics=("accuracy",),
                         data_dir=data_dir, xla=False)
    sweep = lt.sweep.Sweep("tbsweep", base=base, logdir=work / "logs",
                     grid={"learning_rate": [0.05, 0.2]})
    result = lt.sweep.run_sweep(sweep, verbose=0)
    data = lt.load_dataset("fashion_mnist", data_dir=data_dir, raw=True)
    for row in result.rows:
        test_dir = os.path.join(row["run_dir"], "test")
        if not os.path.isdir(test_dir):  # a sweep's trials write no test figures: these do
            predictor = lt.restore(row["run_dir"])
            writer = tf.summary.create_file_writer(test_dir)
            figures.write_evaluation_images(writer, row["step"], data.test.images,
                                            data.test.labels,
                                            predictor.probabilities(data.test.images),
                                            data.class_names)
            writer.close()
    return sweep, result


@pytest.fixture(scope="module")
def server(logdir, tmp_path_factory):
    sweep, result = logdir
    wanted = [f"{t}/{split}" for t in TRIALS for split in ("train", "validation", "summary")]
    with serve(sweep.root, runs=wanted,
               log_path=tmp_path_factory.mktemp("tb_log") / "tensorboard.log") as url:
        yield url


def history(result, trial):
    with open(os.path.join(result.sweep.root, trial, "history.json")) as f:
        return json.load(f)


# ---- the HTTP data API ---------------------------------------------------------------------

def test_runs_are_listed(server):
    runs = set(get_json(server, "/data/runs"))
    for trial in TRIALS:
        assert {trial, f"{trial}/train", f"{trial}/validation", f"{trial}/test",
                f"{trial}/summary"} <= runs
    active = get_json(server, "/data/plugins_listing")
    for plugin in ("scalars", "histograms", "images", "hparams", "graphs"):
        assert active[plugin]["enabled"], plugin


def test_scalars_equal_the_history(server, logdir):
    _, result = logdir
    tags = get_json(server, "/data/plugin/scalars/tags")
    for trial in TRIALS:
        assert {"loss", "accuracy", "learning_rate", "examples_per_second"} <= \
            set(tags[f"{trial}/train"])
        assert {"loss", "accuracy"} <= set(tags[f"{trial}/validation"])
        assert {"best_val_accuracy", "finished"} <= set(tags[f"{trial}/summary"])
        assert not any(tag.startswith("test") for tag in tags[f"{trial}/summary"])
        h = history(result, trial)
        points = get_json(server, "/data/plugin/scalars/scalars", run=f"{trial}/validation",
                          tag="accuracy")
        assert [p[1] for p in points] == h["step"]
        np.testing.assert_allclose([p[2] for p in points], h["val_accuracy"], rtol=1e-6)
        finished = get_json(server, "/data/plugin/scalars/scalars", run=f"{trial}/summary",
                            tag="finished")
        assert [p[2] for p in finished] == [1.0]


def test_histograms_of_weights_and_gradients(server, logdir):
    _, result = logdir
    tags = get_json(server, "/data/plugin/histograms/tags")
    for trial in TRIALS:
        names = set(tags[f"{trial}/train"])
        assert {"dnn/hidden1/kernel", "dnn/outputs/bias", "gradients/dnn/hidden1/kernel"} <= names
        points = get_json(server, "/data/plugin/histograms/histograms", run=f"{trial}/train",
                          tag="dnn/hidden1/kernel")
        assert [p[1] for p in points] == history(result, trial)["step"]
        buckets = points[-1][2]
        assert sum(b[2] for b in buckets) == pytest.approx(784 * 16)


def test_images_of_the_evaluation(server):
    tags = get_json(server, "/data/plugin/images/tags")
    for trial in TRIALS:
        assert IMAGE_TAGS <= set(tags[f"{trial}/test"])
        for tag in IMAGE_TAGS:
            entries = get_json(server, "/data/plugin/images/images", run=f"{trial}/test",
                               tag=tag, sample=0)
            assert len(entries) == 1
            png = get(server, "/data/plugin/images/individualImage?" + entries[0]["query"])
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = struct.unpack(">II", png[16:24])
            decoded = tf.io.decode_png(png).numpy()
            assert decoded.shape == (height, width, 3) and width >= 100 and height >= 40
    for trial in TRIALS:  # the Trainer also draws every validation
        assert IMAGE_TAGS <= set(tags[f"{trial}/validation"])


def hparams_request(server, route, request):
    return get_json(server, f"/data/plugin/hparams/{route}", request=json.dumps(request))


def test_hparams_experiment_is_inferred_from_every_run(server):
    """No search space is written, so TensorBoard builds the columns from the runs: every
    hyperparameter a run records, and every scalar of the runs as a metric."""
    experiment = hparams_request(server, "experiment", {"experimentName": ""})
    hparams = {h["name"]: h for h in experiment["hparamInfos"]}
    assert {"learning_rate", "optimizer", "batch_size", "epochs", "seed", "layers",
            "activation", "dataset", "l2", "ema", "accumulate", "precision",
            "patience"} <= set(hparams)
    interval = hparams["learning_rate"]["domainInterval"]
    assert interval["minValue"] <= 0.05 and interval["maxValue"] >= 0.2
    metrics = {(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert {("validation", "accuracy"), ("summary", "best_val_accuracy"),
            ("summary", "finished"), ("train", "learning_rate")} <= metrics
    # the trials' test figures stay out of the table (the fixture draws them into test/)
    assert not any(group == "test" for group, _ in metrics)


def test_hparams_sessions_are_the_trials(server, logdir):
    _, result = logdir
    groups = hparams_request(server, "session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 100,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                            "STATUS_RUNNING"]})["sessionGroups"]
    sessions = {g["sessions"][0]["name"]: g for g in groups}
    assert set(sessions) == set(TRIALS)
    for trial, group in sessions.items():
        session = group["sessions"][0]
        assert session["status"] == "STATUS_SUCCESS"
        assert group["name"] == trial
        assert group["hparams"]["learning_rate"] == float(trial.split("=")[1])
        values = {(m["name"].get("group", ""), m["name"]["tag"]): m["value"]
                  for m in session["metricValues"]}
        h = history(result, trial)
        assert values[("validation", "accuracy")] == pytest.approx(h["val_accuracy"][-1])
        assert values[("summary", "best_val_accuracy")] == pytest.approx(max(h["val_accuracy"]))
        assert values[("summary", "finished")] == 1.0


# ---- the pages, in headless Chromium ---------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with Chromium(str(tmp_path_factory.mktemp("chromium_profile")), 1280, 900) as chromium:
        yield chromium


@needs_chromium
def test_scalars_page_shows_our_runs(server, browser, tmp_path):
    runs = [f"{t}/{split}" for t in TRIALS for split in ("train", "validation")]
    text = show(browser, server, "scalars", runs + ["accuracy", "loss"], settle=1.0)
    for run in runs:
        assert run in text, text[:2000]
    shot = browser.screenshot(str(tmp_path / "tensorboard_scalars.png"))
    assert png_dimensions(shot) == (1280, 900)
    keep(shot, "tensorboard_scalars.png")


@needs_chromium
def test_hparams_page_shows_our_trials(server, browser, tmp_path):
    text = show(browser, server, "hparams", list(TRIALS) + ["learning_rate"], settle=0)
    for word in list(TRIALS) + ["learning_rate", "best_val_accuracy"]:
        assert word in text, text[:2000]
    shot = browser.screenshot(str(tmp_path / "tensorboard_hparams_table.png"))
    keep(shot, "tensorboard_hparams_table.png")
    assert browser.click_text("PARALLEL COORDINATES VIEW") or \
        browser.click_text("Parallel Coordinates View")
    time.sleep(2.0)
    shot = browser.screenshot(str(tmp_path / "tensorboard_hparams_parallel.png"))
    keep(shot, "tensorboard_hparams_parallel.png")


@needs_chromium
def test_dump_dom_of_the_time_series_page_lists_our_runs(server, tmp_path):
    """The plain `chromium --dump-dom` way (light DOM only: the Angular time-series page)."""
    args = [find_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000", "--dump-dom", f"{server}/#timeseries"]
    dom = ""
    for _ in range(3):
        dom = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
        if all(f"{t}/validation" in dom for t in TRIALS):
            break
    for trial in TRIALS:
        assert f"{trial}/train" in dom and f"{trial}/validation" in dom
