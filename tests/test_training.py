"""Training as the settings say: the model directory, the cost per epoch and one MLflow run."""

import json
import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from digitnet import training
from digitnet.artifacts import file_md5, load_npz, read_costs
from digitnet.cli import load_config
from digitnet.errors import ConfigError, TrainingError
from digitnet.fit import History
from digitnet.logged_model import download_model
from digitnet.network import load
from support import TINY_EPOCHS


def train(*overrides, model_dir="model"):
    """Train on the workspace's processed arrays with experiment=tiny and `overrides`."""
    config = load_config(["experiment=tiny", *overrides])
    return config, training.train_model(
        config=config, processed=config.paths.processed, model_dir=model_dir
    )


def only_run(workspace):
    client = MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    return client, run


def test_training_writes_the_network_and_its_cost_at_every_epoch(prepared):
    _, trained = train("tracking.enabled=false")
    network = load(prepared / "model/weights.npz")
    assert network.layer_sizes == [16, 25, 10]
    assert all(
        np.array_equal(a, b) for a, b in zip(network.weights, trained.network.weights, strict=True)
    )
    costs = read_costs(prepared / "model/cost.csv")
    assert costs.tolist() == trained.costs.tolist() and len(costs) == TINY_EPOCHS
    assert trained.run_id is None


def test_a_training_run_records_the_settings_the_cost_history_and_the_weights_md5(prepared):
    config, trained = train()
    client, run = only_run(prepared)
    assert run.info.run_id == trained.run_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == training.run_name(config) == "tiny"
    assert run.data.params["train.lr"] == "0.5"
    assert run.data.params["train.epochs"] == str(TINY_EPOCHS)
    history = client.get_metric_history(run.info.run_id, "cost")
    assert sorted((m.step, m.value) for m in history) == list(enumerate(trained.costs, start=1))
    assert run.data.tags["weights_md5"] == file_md5(prepared / "model/weights.npz")
    assert run.data.tags["data_md5"] == file_md5(prepared / "data/digits.xlsx")


def test_the_tiny_problem_is_learned(prepared):
    _, trained = train("train.epochs=100", "tracking.enabled=false")
    rows = load_npz(prepared / "artifacts/processed/train.npz")
    assert np.mean(trained.network.predict(rows["X"]) == rows["classes"]) >= 0.9


def test_training_without_tracking_writes_no_store(prepared):
    _, trained = train("tracking.enabled=false")
    assert trained.run_id is None
    assert sorted(p.name for p in prepared.iterdir()) == ["artifacts", "conf", "data", "model"]


def test_a_diverging_training_is_an_error_that_fails_its_run_and_writes_no_model(prepared):
    with pytest.raises(TrainingError) as raised:
        train("train.lr=1e308")
    assert str(raised.value) == (
        "training diverged: the cost became nan at epoch 1; "
        "try a smaller learning rate than train.lr=1e+308"
    )
    assert [p.name for p in prepared.iterdir() if "model" in p.name] == []  # nor a temporary
    _, run = only_run(prepared)
    assert run.info.status == "FAILED"


def test_a_training_whose_cost_ends_above_its_start_fails_its_run_and_writes_no_model(prepared):
    # lr 1000: the cost stays finite (the logs are clipped) but ends far above where it began
    with pytest.raises(TrainingError) as raised:
        train("train.lr=1000")
    assert re.fullmatch(
        r"training diverged: the cost rose from 7\.437 before the first step to [\d.]+ at "
        r"epoch 30; try a smaller learning rate than train\.lr=1000\.0",
        str(raised.value),
    ), str(raised.value)
    assert [p.name for p in prepared.iterdir() if "model" in p.name] == []  # nor a temporary
    _, run = only_run(prepared)
    assert run.info.status == "FAILED"


def test_check_learned_names_the_epoch_whose_weights_were_kept():
    history = History(np.array([6.0, 7.5, 9.0]), np.array([1.0, 0.9, 1.2]), 2, 7.0)
    with pytest.raises(TrainingError) as raised:
        training.check_learned(load_config(["train.lr=3"]), history)
    assert str(raised.value) == (
        "training diverged: the cost rose from 7 before the first step to 7.5 at epoch 2; "
        "try a smaller learning rate than train.lr=3.0"
    )
    training.check_learned(load_config(), history._replace(best_epoch=1))  # 6 < 7: learned


def test_the_run_name_is_the_preset_then_the_settings_that_differ_from_it():
    assert training.run_name(load_config()) == "default"
    assert training.run_name(load_config(["experiment=best"])) == "best"
    assert training.run_name(load_config(["experiment=best", "train.lr=0.01"])) == "best lr=0.01"
    changed = load_config(["model.hidden_sizes=[50,10]", "train.lr=0.3", "seed=1"])
    assert training.run_name(changed) == "default seed=1 hidden=[50,10] lr=0.3"
    named = load_config(["data.workbook=/somewhere/else/my.xlsx", "train.patience=null"])
    assert training.run_name(named) == "default workbook=my.xlsx"  # the file name only
    back = load_config(["experiment=tutorial", "train.batch_size=64"])  # the default's value
    assert training.run_name(back) == "tutorial batch_size=64"


def test_a_setting_changed_in_conf_shows_in_the_run_name(checkout, monkeypatch):
    """As `dvc exp run -S conf/train/gd.yaml:lr=0.2` changes it: against the preset's own
    settings, not against conf/ as it now is."""
    monkeypatch.chdir(checkout)
    gd = checkout / "conf/train/gd.yaml"
    gd.write_text(gd.read_text().replace("lr: 0.5", "lr: 0.2", 1))
    assert load_config().train.lr == 0.2
    assert training.run_name(load_config()) == "default lr=0.2"


def test_a_training_run_logs_its_splits_as_datasets_of_the_workbook(prepared):
    config, trained = train()
    client, run = only_run(prepared)
    meta = json.loads((prepared / "artifacts/processed/meta.json").read_text())
    digest = f"{meta['source_md5'][:8]}-s0-v0.25-t0.25"
    inputs = {
        {t.key: t.value for t in item.tags}["mlflow.data.context"]: item.dataset
        for item in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "validation", "test"}
    for context, split in (("training", "train"), ("validation", "val"), ("test", "test")):
        dataset = inputs[context]
        rows = load_npz(prepared / f"artifacts/processed/{split}.npz")
        assert (dataset.name, dataset.digest) == (f"digits {split}", digest)
        assert json.loads(dataset.source) == {"uri": (prepared / "data/digits.xlsx").as_uri()}
        assert json.loads(dataset.profile)["features_shape"] == list(rows["X"].shape)


def test_a_training_run_is_named_after_its_preset_and_so_is_its_model(prepared, capsys):
    config, trained = train("train.lr=0.25")
    client, run = only_run(prepared)
    assert run.info.run_name == "tiny lr=0.25"
    assert run.data.params["preset"] == "tiny"
    (model,) = client.search_logged_models([run.info.experiment_id])
    assert (model.name, model.source_run_id) == ("tiny lr=0_25", run.info.run_id)
    assert (
        capsys.readouterr()
        .out.rstrip()
        .endswith(f"; MLflow run {run.info.run_id}; model models:/{model.model_id}")
    )


def test_the_models_old_uri_runs_id_model_still_downloads_it(prepared, tmp_path):
    _, trained = train()
    uri = f"sqlite:///{prepared / 'mlflow.db'}"
    local = download_model(uri, f"runs:/{trained.run_id}/model", tmp_path / "dst")
    weights = local / "artifacts" / "weights.npz"
    assert weights.read_bytes() == (prepared / "model/weights.npz").read_bytes()


def test_the_same_settings_and_seed_give_identical_weights_and_another_seed_others(prepared):
    def weights(*overrides, model_dir):
        train("tracking.enabled=false", *overrides, model_dir=model_dir)
        return (prepared / model_dir / "weights.npz").read_bytes()

    first = weights(model_dir="a")
    assert weights(model_dir="b") == first
    assert weights("seed=1", model_dir="c") != first


def test_the_image_side_comes_from_a_square_pixel_count_or_the_setting():
    assert training.image_side(None, 400) == 20
    assert training.image_side(20, 400) == 20
    with pytest.raises(ConfigError) as refused:
        training.image_side(None, 399)
    assert str(refused.value) == (
        "a convolutional network needs square images, and 399 pixels per row are not one; "
        "use a dense network (model=mlp)"
    )


def test_a_convolutional_network_is_saved_and_loaded_whole(prepared, tmp_path):
    _, trained = train(
        "tracking.enabled=false", "model=cnn", "model.kernel_sizes=[3]", "model.padding=same"
    )
    network = load(prepared / "model/weights.npz")
    assert (network.image_side, network.padding, network.pool) == (4, "same", 2)
    assert [W.shape for W in network.weights] == [(3, 3, 1, 32), (128, 10)]
    assert network.layer_sizes == [16, 128, 10]
    X = np.random.default_rng(0).uniform(size=(5, 16))
    np.testing.assert_array_equal(network.predict_proba(X), trained.network.predict_proba(X))
    assert training.architecture(network) == "4x4-conv3x32-pool2-128-10"
