"""dvc.yaml and conf/ agree: every stage's code exists and every listed setting resolves."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]


def variables():
    values = {}
    for entry in PIPELINE["vars"]:
        file, _, keys = entry.partition(":")
        data = yaml.safe_load((ROOT / file).read_text())
        values |= {k: data[k] for k in (keys.split(",") if keys else data)}
    return values


def resolve(text):
    for key, value in variables().items():
        text = text.replace("${" + key + "}", str(value))
    assert "${" not in text, text
    return text


def test_pipeline_has_the_four_stages_in_order():
    assert list(STAGES) == ["ingest", "preprocess", "train", "evaluate"]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_runs_its_own_module_and_depends_on_it(name):
    stage = STAGES[name]
    module = stage["cmd"].removeprefix("python -m ")
    assert importlib.util.find_spec(module) is not None
    module_file = "src/" + module.replace(".", "/") + ".py"
    assert module_file in stage["deps"]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_code_dependency_exists(name):
    for dep in STAGES[name]["deps"]:
        if dep.startswith("src/"):
            assert (ROOT / dep).is_file(), dep


@pytest.mark.parametrize("name", list(STAGES))
def test_each_listed_setting_exists_in_its_conf_file(name):
    for entry in STAGES[name].get("params", []):
        for file, keys in entry.items():
            data = yaml.safe_load((ROOT / file).read_text())
            for key in keys:
                assert key in data, f"{file}: {key}"


def test_each_stage_consumes_what_the_previous_one_produces():
    outs = {
        name: [resolve(o if isinstance(o, str) else next(iter(o))) for o in s["outs"]]
        for name, s in STAGES.items()
    }
    deps = {name: [resolve(d) for d in s["deps"]] for name, s in STAGES.items()}
    assert outs["ingest"][0] in deps["preprocess"]
    assert outs["preprocess"][0] in deps["train"]
    assert set(outs["train"]) <= set(deps["evaluate"])


def test_outputs_live_outside_the_tracked_data_directory():
    for stage in STAGES.values():
        for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            path = resolve(out if isinstance(out, str) else next(iter(out)))
            assert not path.startswith("data/"), path


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci/run").read_text()
