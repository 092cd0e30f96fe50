"""dvc.yaml agrees with the code and conf/: each stage depends on exactly the modules it runs,
every listed setting resolves, and each stage consumes what the one before it produces."""

import ast
import hashlib
import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]


def variables():
    """What DVC interpolates: params.yaml, which it always loads, then each file in `vars`."""
    values = yaml.safe_load((ROOT / "params.yaml").read_text())
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


def stage_module(stage):
    """The module a stage runs: `digitnet stage NAME [overrides]` runs digitnet.stages.NAME.

    The `digitnet` command's __main__.py only picks that module, so it is not a dependency: a
    new command or help text must not rerun the pipeline."""
    tool, subcommand, name = stage["cmd"].split()[:3]
    assert (tool, subcommand) == ("digitnet", "stage"), stage["cmd"]
    return f"digitnet.stages.{name}"


def test_pipeline_has_the_four_stages_in_order():
    assert list(STAGES) == ["ingest", "preprocess", "train", "evaluate"]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_runs_its_own_module_and_depends_on_it(name):
    stage = STAGES[name]
    module = stage_module(stage)
    assert importlib.util.find_spec(module) is not None
    module_file = "src/" + module.replace(".", "/") + ".py"
    assert module_file in stage["deps"]


# Files a stage reads as files rather than imports: the train stage logs mlflow_model.py as the
# code of its MLflow model.
READ_AS_FILES = {"train": {"src/digitnet/mlflow_model.py"}}


def module_file(name):
    """src/digitnet/<...>.py for a digitnet module's dotted name; None for a package or others."""
    if not name.startswith("digitnet."):
        return None
    path = SRC / (name.replace(".", "/") + ".py")
    return path if path.is_file() and path.name != "__init__.py" else None


def imported_files(path):
    """The digitnet module files that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {file for file in map(module_file, names) if file is not None}
    return found


def import_closure(module):
    """Every digitnet module file that running `module` imports, itself included."""
    todo, seen = [module_file(module)], set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_files(path))
    return {str(path.relative_to(ROOT)) for path in seen}


def code_deps_mismatch(name, stage):
    """(missing, extra): modules the stage runs that dvc.yaml omits, and listed ones it doesn't."""
    wanted = import_closure(stage_module(stage)) | READ_AS_FILES.get(name, set())
    listed = {dep for dep in stage["deps"] if dep.startswith("src/")}
    return wanted - listed, listed - wanted


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_lists_exactly_the_modules_it_runs(name):
    missing, extra = code_deps_mismatch(name, STAGES[name])
    assert (sorted(missing), sorted(extra)) == ([], []), "(missing from dvc.yaml, not used)"


def test_a_module_removed_from_a_stage_deps_is_reported_missing():
    stage = dict(STAGES["evaluate"])
    stage["deps"] = [dep for dep in stage["deps"] if dep != "src/digitnet/network.py"]
    assert code_deps_mismatch("evaluate", stage) == ({"src/digitnet/network.py"}, set())


def test_a_module_the_stage_does_not_run_is_reported_extra():
    stage = dict(STAGES["ingest"])
    stage["deps"] = [*stage["deps"], "src/digitnet/plots.py"]
    assert code_deps_mismatch("ingest", stage) == (set(), {"src/digitnet/plots.py"})


def test_a_lazy_import_inside_a_function_counts():
    assert SRC / "digitnet/frames.py" in imported_files(SRC / "digitnet/logged_model.py")


def test_package_init_files_import_nothing():
    """They run on every import but are left out of the closures: nothing can hide in them."""
    for init in SRC.glob("digitnet/**/__init__.py"):
        assert imported_files(init) == set(), init
        assert not [n for n in ast.walk(ast.parse(init.read_text())) if isinstance(n, ast.Import)]


def test_no_module_imports_a_stage():
    """Stages are leaves: each is run by DVC, never a library for other modules."""
    stages_dir = SRC / "digitnet/stages"
    for path in SRC.glob("digitnet/**/*.py"):
        assert not [f for f in imported_files(path) if f.parent == stages_dir], path


@pytest.mark.parametrize("name", list(STAGES))
def test_each_listed_setting_exists_in_its_conf_file(name):
    for entry in STAGES[name].get("params", []):
        for file, keys in ({"params.yaml": [entry]} if isinstance(entry, str) else entry).items():
            data = yaml.safe_load((ROOT / file).read_text())
            for key in keys:
                assert key in data, f"{file}: {key}"


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_given_a_preset_depends_on_its_file_and_the_param_naming_it(name):
    stage = STAGES[name]
    if "experiment=${experiment}" in stage["cmd"]:
        assert "conf/experiment/${experiment}.yaml" in stage["deps"]
        assert "experiment" in stage["params"]
        assert (ROOT / resolve("conf/experiment/${experiment}.yaml")).is_file()
    else:
        assert "experiment" not in stage["cmd"]


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


def test_dvc_lock_records_the_code_as_it_is():
    """A change to a stage's code must be followed by `dvc repro` and a commit of dvc.lock:
    otherwise a fresh clone's `make run` retrains and leaves dvc.lock modified."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    stale = [
        f"{name}: {dep['path']}"
        for name, stage in lock["stages"].items()
        for dep in stage["deps"]
        if dep["path"].startswith("src/")
        and hashlib.md5((ROOT / dep["path"]).read_bytes()).hexdigest() != dep["md5"]
    ]
    assert stale == [], "run `dvc repro` and commit dvc.lock"
