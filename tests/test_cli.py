"""What every entry point shares: an optional plugin that is missing is named with its extra."""

import pytest

from digitnet import cli
from support import ROOT


@pytest.mark.parametrize(
    ("word", "extra"),
    [
        ("hparams_search=optuna", "optuna"),
        ("hydra/sweeper=optuna", "optuna"),
        ("hydra/launcher=ray", "ray"),
        ("hydra/launcher=submitit_slurm", "slurm"),
    ],
)
def test_a_choice_whose_plugin_is_not_installed_names_the_extra_that_installs_it(word, extra):
    nothing_installed = lambda module: None  # noqa: E731  (as if the extra were missing)
    message = cli.missing_plugin(["-m", word], find_spec=nothing_installed)
    assert message == (
        f"{word} needs the '{extra}' extra, which is not installed: pip install "
        f"'digitnet[{extra}]' (in a checkout: make {cli.MAKE_TARGETS[extra]})"
    )


@pytest.mark.parametrize("extra, target", [("optuna", "install-dev"), ("ray", "install-cluster")])
def test_the_make_target_named_for_an_extra_installs_its_lock_file(extra, target):
    makefile = (ROOT / "Makefile").read_text()
    lock = {"install-dev": "requirements-dev.lock", "install-cluster": "requirements-cluster.lock"}
    assert f"{target}: $(VENV)/.installed-{target.removeprefix('install-')}" in makefile
    assert f"--extra {extra}" in makefile.split(f"-o {lock[target]}")[0].rsplit("$(COMPILE)", 1)[1]


def test_installed_plugins_pass_and_other_words_are_not_plugins():
    assert cli.missing_plugin(["hparams_search=optuna", "hydra/launcher=joblib"]) is None
    assert cli.missing_plugin(["train.lr=0.3"], find_spec=lambda module: None) is None
