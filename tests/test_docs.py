"""The documentation says what the project is: every module is on the layout page, every command
shown is real, every figure quoted is the one measured, and every line of code quoted is in the
file it is quoted from.

Figures come from files that the commands themselves write: artifacts/eval/metrics.json and
artifacts/model/cost.csv (`dvc repro`), docs/measured/presets.json (`benchmarks/presets.py`) and
docs/measured/tutorial_mistakes.json (`benchmarks/tutorial_mistakes.py`). When one of these tests
fails after a change that moves a figure, rerun the command and update the page.
"""

import csv
import json
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from digitnet.__main__ import COMMANDS
from digitnet.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "digitnet"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
LEARNING = DOCS / "how-the-network-learns.md"
# The pages whose commands are checked; benchmarks.md and cluster.md are reference kept by hand.
PAGES = [README] + [
    DOCS / name
    for name in (
        "settings.md",
        "sweeps.md",
        "tracking.md",
        "serving.md",
        "experiments.md",
        "troubleshooting.md",
        "layout.md",
        "how-the-network-learns.md",
        "installing.md",
    )
]
PRESET_PAGES = [README, DOCS / "settings.md", LEARNING]
# The presets a user chooses with experiment=NAME; experiment=default is the row "default".
PRESET_FILES = [p for p in (ROOT / "conf" / "experiment").glob("*.yaml") if p.stem != "default"]


def plugin_configs(group):
    """The configs that installed Hydra plugins hold in Hydra's ConfigStore for `group`."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # discovering the plugins registers their configs
    try:
        return ConfigStore.instance().list(group)
    except OSError:  # no such group in the store
        return []


FENCE = re.compile(r"^( *)```(\S*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)


def read_json(path):
    return json.loads(path.read_text())


def code_blocks(text, languages):
    """(language, body, offset) of every fenced block whose info string is in `languages`; the
    body of a block indented in a list item is dedented."""
    return [
        (m.group(2), textwrap.dedent(m.group(3)), m.start())
        for m in FENCE.finditer(text)
        if m.group(2) in languages
    ]


def section(text, heading):
    """The body of the `## heading` section, up to the next heading of level 2."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def tables(text):
    """Every Markdown table: (header cells, rows of cells)."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|( *:?-+:? *\|)+", lines[i + 1]):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(cells(row))
            found.append((cells(line), rows))
    return found


def cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def decimals(shown):
    return len(shown.partition(".")[2])


def same_figure(shown, value):
    """`shown` is `value` as printed to as many decimals as `shown` has."""
    return shown == f"{value:.{decimals(shown)}f}"


# ---------------------------------------------------------------- the layout page


def modules():
    return {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")}


def test_layout_page_names_every_module_of_the_package_and_no_other():
    layout = section((DOCS / "layout.md").read_text(), "Layout")
    listed = re.findall(r"^- `([^`]+\.py)`: \S", layout, re.M)
    assert len(listed) == len(set(listed)), "a module is listed twice"
    missing, gone = modules() - set(listed), set(listed) - modules()
    assert not missing, f"modules missing from docs/layout.md's Layout section: {sorted(missing)}"
    assert not gone, f"docs/layout.md lists modules that do not exist: {sorted(gone)}"


def test_the_package_has_its_stage_modules_so_the_layout_test_sees_subpackages():
    assert {"nn.py", "stages/train.py", "stages/ingest.py"} <= modules()


# ---------------------------------------------------------------- commands


def make_targets():
    return set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", (ROOT / "Makefile").read_text(), re.M))


def console_scripts():
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def shown_commands(path):
    """The commands a page shows: lines of sh/bash/console/plain blocks, with prompts, leading
    VAR=value assignments and comments taken off; in console blocks only the `$ ` lines."""
    commands = []
    for language, body, _ in code_blocks(path.read_text(), {"", "sh", "bash", "console", "shell"}):
        for line in body.splitlines():
            if language == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = line.partition(" #")[0].strip()
            words = line.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words:
                commands.append(" ".join(words))
    return commands


def checked(command):
    return re.match(r"(make|python|digitnet[\w-]*|dvc|mlflow) ", command + " ")


def test_the_command_reader_sees_what_a_page_shows(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ make run\noutput line\n```\n\n"
        "```sh\nRAY_ADDRESS=h:1 digitnet train x=1   # comment\n```\n"
        "```python\nmake = 1\n```\n\n"
        "- a list item:\n\n  ```bash\n  make ui\n  ```\n"
    )
    assert shown_commands(page) == ["make run", "digitnet train x=1", "make ui"]


def check_groups(page, command):
    """Each group=choice of a command names a file of conf/ or a plugin's config."""
    for group, choice in re.findall(r"(?<!\S)\+?([\w/]+)=(\w+)(?!\S)", command):
        if (ROOT / "conf" / group).is_dir():  # a config group: a file or a plugin's
            assert (ROOT / "conf" / group / f"{choice}.yaml").is_file() or (
                f"{choice}.yaml" in plugin_configs(group)
            ), f"{page.name}: `{command}`: no conf/{group}/{choice}.yaml"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_a_page_shows_is_a_real_target_module_or_script(page):
    commands = [c for c in shown_commands(page) if checked(c)]
    if page == README:
        assert {"make run", "make test"} <= set(commands)
    targets, scripts = make_targets(), console_scripts()
    for command in commands:
        words = command.split()
        tool = words[0]
        if tool == "make":
            assert words[1] in targets, f"{page.name}: `{command}`: no make target {words[1]}"
        elif tool == "python" and words[1] == "-m":
            parts = words[2].split(".")
            assert parts[0] == "digitnet", f"{page.name}: `{command}`"
            base = PACKAGE.joinpath(*parts[1:])
            assert base.with_suffix(".py").is_file() or (base / "__main__.py").is_file(), (
                f"{page.name}: `{command}`: no module {words[2]}"
            )
            check_groups(page, command)
        elif tool == "python":
            assert (ROOT / words[1]).is_file(), f"{page.name}: `{command}`: no file {words[1]}"
        elif tool.startswith("digitnet"):
            assert tool in scripts, f"{page.name}: `{command}`: no console script {tool}"
            if tool == "digitnet" and len(words) > 1 and not words[1].startswith("-"):
                assert words[1] in COMMANDS, f"{page.name}: `{command}`: no command {words[1]}"
                if words[1] == "stage" and len(words) > 2 and not words[2].startswith("-"):
                    assert words[2] in STAGES, f"{page.name}: `{command}`: no stage {words[2]}"
            if words[:2] == ["digitnet", "train"] or tool == "digitnet-train":
                check_groups(page, command)
        else:
            assert tool in {"dvc", "mlflow"}, f"{page.name}: `{command}`"


def test_readme_shows_the_digitnet_command_for_what_a_user_runs():
    commands = [c.split()[1] for c in shown_commands(README) if c.startswith("digitnet ")]
    assert {"train", "promote", "predict", "ui"} <= set(commands)


# ---------------------------------------------------------------- figures README quotes


def console_block(text, command):
    """The output of the console block that starts with `$ command`."""
    for _, body, _ in code_blocks(text, {"console"}):
        first, _, rest = body.partition("\n")
        if first == f"$ {command}":
            return rest
    raise AssertionError(f"no console block for `$ {command}`")


def test_readme_quotes_the_metrics_that_make_run_wrote():
    output = console_block(README.read_text(), "make run")
    metrics = read_json(ROOT / "artifacts" / "eval" / "metrics.json")
    shown = re.search(r"^evaluate: accuracy train (\S+), val (\S+), test (\S+) →", output, re.M)
    assert shown, "README's make run output has no evaluate line"
    for split, figure in zip(("train", "val", "test"), shown.groups(), strict=True):
        assert same_figure(figure, metrics[f"{split}_accuracy"]), (split, figure, metrics)
    header, row = re.search(
        r"^(Path +final_cost.*)\n(artifacts/eval/metrics\.json .*)$", output, re.M
    ).groups()
    table = dict(zip(header.split()[1:], row.split()[1:], strict=True))
    assert set(table) == set(metrics)
    for key, figure in table.items():
        if isinstance(metrics[key], str):  # mlflow_run_id: new with every run, so elided
            assert figure in ("…", metrics[key]), (key, figure, metrics[key])
        else:
            assert same_figure(figure, metrics[key]), (key, figure, metrics[key])


def test_readme_quotes_the_cost_curve_that_make_run_wrote():
    output = console_block(README.read_text(), "make run")
    with open(ROOT / "artifacts" / "model" / "cost.csv", newline="") as file:
        costs = [float(row["cost"]) for row in csv.DictReader(file)]
    first, last = re.search(r"^train: .* cost (\S+) → (\S+) in ", output, re.M).groups()
    assert same_figure(first, costs[0]) and same_figure(last, costs[-1]), (first, last)
    metrics = read_json(ROOT / "artifacts" / "eval" / "metrics.json")
    assert same_figure(last, metrics["final_cost"])


def test_readme_quotes_what_the_tutorial_preset_prints():
    output = console_block(README.read_text(), "digitnet train experiment=tutorial")
    recorded = read_json(DOCS / "measured" / "presets.json")["runs"]["experiment=tutorial"]
    shown = re.search(r"^evaluate: accuracy train (\S+), val (\S+), test (\S+) →", output, re.M)
    for split, figure in zip(("train", "val", "test"), shown.groups(), strict=True):
        assert same_figure(figure, recorded[f"{split}_accuracy"]), (split, figure)
    tutorial = read_json(DOCS / "measured" / "tutorial_mistakes.json")["runs"]["tutorial"]
    first, last = re.search(r"^train: .* cost (\S+) → (\S+) in ", output, re.M).groups()
    assert same_figure(first, tutorial["first_cost"]) and same_figure(last, tutorial["final_cost"])


# ---------------------------------------------------------------- preset figures


def preset_rows(path):
    """{run: shown test accuracy} from every table of `path` whose first column is `preset`."""
    rows = {}
    for header, body in tables(path.read_text()):
        if header[0] != "preset":
            continue
        column = header.index("test accuracy")
        for row in body:
            name = "default" if row[0] == "the defaults" else row[0].strip("`")
            assert name not in rows, f"{path.name}: preset {name} twice"
            rows[name] = row[column]
    return rows


def test_every_preset_in_conf_is_measured():
    recorded = read_json(DOCS / "measured" / "presets.json")["runs"]
    presets = {f"experiment={p.stem}" for p in PRESET_FILES}
    missing = ({"default"} | presets) - set(recorded)
    assert not missing, f"run benchmarks/presets.py: docs/measured/presets.json lacks {missing}"


def test_the_recorded_defaults_are_the_pipelines_own_metrics():
    recorded = read_json(DOCS / "measured" / "presets.json")["runs"]["default"]
    metrics = read_json(ROOT / "artifacts" / "eval" / "metrics.json")
    for split in ("train", "val", "test"):
        assert recorded[f"{split}_accuracy"] == metrics[f"{split}_accuracy"], split


@pytest.mark.parametrize("page", PRESET_PAGES, ids=lambda p: p.name)
def test_preset_tables_quote_the_recorded_test_accuracy(page):
    recorded = read_json(DOCS / "measured" / "presets.json")["runs"]
    rows = preset_rows(page)
    assert rows, f"{page.name} has no preset table"
    for name, shown in rows.items():
        assert name in recorded, f"{page.name}: {name} is not in docs/measured/presets.json"
        assert shown == f"{recorded[name]['test_accuracy']:.3f}", (page.name, name, shown)


@pytest.mark.parametrize("page", [README, DOCS / "settings.md"], ids=lambda p: p.name)
def test_preset_tables_list_every_preset(page):
    presets = {f"experiment={p.stem}" for p in PRESET_FILES}
    missing = ({"default"} | presets) - set(preset_rows(page))
    assert not missing, f"{page.name}'s preset table lacks {sorted(missing)}"


# ---------------------------------------------------------------- the tutorial's mistakes


def mistake_cells(run):
    """How the table on the learning page shows one run of benchmarks/tutorial_mistakes.py."""
    last, nan = run["tutorial_final_cost"], run["tutorial_cost_nan"]
    epochs = run["settings"]["epochs"]
    return {
        "test accuracy (argmax)": f"{run['test_accuracy']:.3f}",
        "the tutorial's accuracy (any output ≥ 0.5)": f"{run['tutorial_accuracy']:.3f}",
        "most frequent prediction's share": f"{run['top_prediction_share']:.3f}",
        "cost, first → last epoch": f"{run['first_cost']:.3g} → {run['final_cost']:.3g}",
        "the tutorial's cost, last epoch": "nan" if last is None else f"{last:.3g}",
        "epochs whose tutorial cost is nan": (
            f"{nan['epochs']} of {epochs}, from epoch {nan['first_epoch']}" if nan else "none"
        ),
    }


def test_the_learning_page_quotes_every_measured_mistake_as_recorded():
    runs = read_json(DOCS / "measured" / "tutorial_mistakes.json")["runs"]
    [(header, body)] = [t for t in tables(LEARNING.read_text()) if t[0][0] == "run"]
    shown = {row[0].strip("`"): dict(zip(header, row, strict=True)) for row in body}
    assert set(shown) == set(runs)
    for name, run in runs.items():
        for column, cell in mistake_cells(run).items():
            assert shown[name][column] == cell, (name, column)


def test_the_learning_page_prose_quotes_the_recorded_figures():
    text = " ".join(LEARNING.read_text().split())
    runs = read_json(DOCS / "measured" / "tutorial_mistakes.json")["runs"]
    saturated = round(100 * runs["default+init"]["saturated_at_start"])
    assert f"{saturated} % of the hidden activations" in text
    first_nan = runs["default+sigmoid"]["tutorial_cost_nan"]["first_epoch"]
    assert f"from epoch {first_nan} on the tutorial's cost is nan" in text
    assert runs["default+update"]["test_accuracy"] == 0.1  # "the same digit for every image"
    assert runs["tutorial+all"]["tutorial_accuracy"] == 1.0  # "reports an accuracy of 1.000"


# ---------------------------------------------------------------- code quoted on the learning page


def quoted_code():
    """(source path, code) for every python block on the learning page; the source is the last
    `src/digitnet/....py` named above the block."""
    text = LEARNING.read_text()
    quotes = []
    for _, body, start in code_blocks(text, {"python"}):
        named = re.findall(r"`(src/digitnet/[\w/]+\.py)`", text[:start])
        assert named, f"no source file named above:\n{body}"
        quotes.append((named[-1], body))
    return quotes


def appears_verbatim(code, source):
    """`code` is a run of consecutive lines of `source`, give or take a common indentation."""
    wanted = textwrap.dedent(code).rstrip("\n")
    lines = source.splitlines()
    n = len(wanted.splitlines())
    return any(
        textwrap.dedent("\n".join(lines[i : i + n])) == wanted for i in range(len(lines) - n + 1)
    )


def test_appears_verbatim_needs_the_exact_lines_in_order():
    source = "def f(a):\n    x = a + 1\n    return x\n"
    assert appears_verbatim("x = a + 1\nreturn x\n", source)
    assert not appears_verbatim("x = a + 2\n", source)
    assert not appears_verbatim("return x\nx = a + 1\n", source)


def test_the_learning_page_quotes_both_numeric_modules():
    sources = {path for path, _ in quoted_code()}
    assert {"src/digitnet/nn.py", "src/digitnet/optim.py"} <= sources


@pytest.mark.parametrize("number", range(len(quoted_code())))
def test_every_code_block_on_the_learning_page_is_in_its_source_file(number):
    path, code = quoted_code()[number]
    assert 1 <= len(code.splitlines()) <= 6, f"quote short snippets:\n{code}"
    assert appears_verbatim(code, (ROOT / path).read_text()), f"not in {path}:\n{code}"


def test_the_fault_figures_are_the_ones_benchmarks_faults_measured():
    totals = read_json(DOCS / "measured" / "faults.json")["totals"]
    sweeps = " ".join((DOCS / "sweeps.md").read_text().split())
    assert (
        f"{totals['killed']} of {totals['trials']} trials killed a job; "
        f"{totals['results_lost']} finished results lost, "
        f"{totals['runs_left_running']} runs left `RUNNING`"
    ) in sweeps
    table = dict(
        (row[0], row[1]) for _, rows in tables((DOCS / "benchmarks.md").read_text()) for row in rows
    )
    assert table["finished results lost (a job recorded FINISHED whose run is not)"] == str(
        totals["results_lost"]
    )
    assert table["runs left RUNNING after the sweep"] == str(totals["runs_left_running"])
    assert table["trials in which a job was killed"] == str(totals["killed"])


def test_the_figures_of_runs_started_together_are_the_ones_benchmarks_faults_measured():
    together = read_json(DOCS / "measured" / "faults.json")["together"]["totals"]
    table = dict(
        (row[0], row[1]) for _, rows in tables((DOCS / "benchmarks.md").read_text()) for row in rows
    )
    rows = {
        "runs whose recorded scores differ from the same run alone": "scores_differ_from_alone",
        "runs that wrote into a folder another run had": "runs_in_a_shared_folder",
        "runs left RUNNING": "runs_left_running",
    }
    assert {row: table[row] for row in rows} == {row: str(together[k]) for row, k in rows.items()}
    assert together["trials"] == 20 and together["runs"] == 80
