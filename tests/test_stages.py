"""The DVC stage commands, in-process: each composes the settings from its arguments, calls one
library function, and turns a user error into one line and exit status 2."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from digitnet.cli import load_config
from digitnet.stages import evaluate, ingest, preprocess, train
from support import sh

ROOT = Path(__file__).resolve().parents[1]
STAGES = [ingest, preprocess, train, evaluate]


def exit_status(main, argv):
    try:
        main(argv)
    except SystemExit as exited:
        return exited.code
    return 0


def test_the_four_stages_chain_through_the_paths_in_conf_into_one_run(workspace, capsys):
    for stage in (ingest, preprocess, train, evaluate):
        assert exit_status(stage.main, ["experiment=tiny"]) == 0, stage.__name__
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ingest", "preprocess", "train", "evaluate"]
    metrics = json.loads((workspace / "artifacts/eval/metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_a_stages_user_error_is_one_line_and_exit_status_2_and_nothing_is_written(
    workspace, capsys
):
    bad = workspace / "bad.xlsx"
    bad.write_text("a,b\n1,2\n")
    assert exit_status(ingest.main, [f"data.workbook={bad}"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {bad} is not an Excel .xlsx workbook (not a zip archive)\n")
    assert not (workspace / "artifacts").exists()


def test_a_bad_setting_stops_a_stage_in_one_line(workspace, capsys):
    assert exit_status(preprocess.main, ["data.scaling=zscore"]) == 2
    assert capsys.readouterr().err == (
        "error: setting data.scaling = 'zscore': choose one of none, standard, minmax\n"
    )


def test_the_train_stage_logs_one_line_and_no_progress_bar_when_not_on_a_terminal(prepared, capsys):
    capsys.readouterr()
    assert exit_status(train.main, ["experiment=tiny", "tracking.enabled=false"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("train: 16-25-10 sigmoid/sigmoid, sgd lr 0.5, batch 16, float64, ")
    assert out.count("\n") == 1
    assert err == ""


def test_the_train_stage_fails_in_one_line_when_the_cost_ends_above_its_start(prepared, capsys):
    capsys.readouterr()
    assert exit_status(train.main, ["experiment=tiny", "train.lr=1000"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: training diverged: the cost rose from 7.437 before the first ")
    assert err.endswith("; try a smaller learning rate than train.lr=1000.0\n")
    assert err.count("\n") == 1
    assert not (prepared / "artifacts/model").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{prepared / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digitnet").experiment_id])
    assert run.info.status == "FAILED"


def module(stage):
    return stage.__name__.removeprefix("digitnet.stages.")


@pytest.mark.parametrize("option", ["--help", "-h"])
@pytest.mark.parametrize("stage", STAGES, ids=module)
def test_every_stage_answers_help_with_its_usage_and_examples(stage, option, tmp_path):
    result = sh([*stage.PROG.split(), option], tmp_path)
    assert result.stdout.startswith(f"usage: {stage.PROG} [-h] [KEY=VALUE ...]\n")
    assert stage.__doc__.splitlines()[0] in result.stdout
    assert "examples:\n" + "".join(f"  {e}\n" for e in stage.EXAMPLES) in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written


@pytest.mark.parametrize("stage", STAGES, ids=module)
def test_an_unknown_option_of_a_stage_is_one_line_and_exit_status_2(stage, tmp_path):
    result = sh([*stage.PROG.split(), "--frobnicate"], tmp_path, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr == f"error: unrecognized arguments: --frobnicate; see {stage.PROG} --help\n"
    )


@pytest.mark.parametrize("stage", STAGES, ids=module)
def test_every_example_in_a_stages_help_is_valid_settings(stage):
    for example in stage.EXAMPLES:
        assert example.startswith(stage.PROG)
        load_config(example.split()[3:])


def settings(tree, prefix=""):
    """The dotted keys a conf file sets: {"data": {"scaling": ...}} → {"data.scaling"}."""
    if not isinstance(tree, dict):
        return {prefix}
    return {key for k, v in tree.items() for key in settings(v, f"{prefix}{k}.")}


PRESETS = sorted((ROOT / "conf/experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_no_preset_changes_what_the_ingest_stage_reads_or_where_outputs_go(preset):
    """DVC runs ingest without the preset (dvc.yaml), so a preset may not change what it reads."""
    ingest_stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["ingest"]
    groups = {"conf/data/digits.yaml": "data", "conf/paths/artifacts.yaml": "paths"}
    read = {
        f"{groups[file]}.{key}."
        for entry in ingest_stage["params"]
        for file, keys in entry.items()
        for key in keys
    }
    changed = settings(yaml.safe_load(preset.read_text()) or {})
    assert not {key for key in changed if key in read or key.startswith("paths.")}
