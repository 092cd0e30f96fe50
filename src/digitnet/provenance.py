"""Who ran what, from which commit: MLflow's standard tags for a run, and the DVC experiment.

Kept apart from tracking.py because none of it needs MLflow: it reads the environment, the
process and git.
"""

import getpass
import os
import subprocess
import sys
from pathlib import Path

# MLflow's own tag names (mlflow.utils.mlflow_tags): the UI's User, Source and Version columns.
USER_TAG, GIT_COMMIT_TAG = "mlflow.user", "mlflow.source.git.commit"
SOURCE_NAME_TAG, SOURCE_TYPE_TAG = "mlflow.source.name", "mlflow.source.type"
# Set by `dvc exp run` for every stage command (dvc/env.py): the experiment and its baseline.
DVC_TAGS = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.exp_baseline_rev"}


def standard_tags(source=None):
    """MLflow's tags for who ran what from which commit, and the DVC experiment if any.

    The source is the command run (`digitnet stage train`, `digitnet train`), which the UI's
    Source column shows; `source` names it where the process is not the command (a sweep's
    worker). The user is MLflow's: MLFLOW_TRACKING_USERNAME, else the login name.
    """
    tags = {
        USER_TAG: os.environ.get("MLFLOW_TRACKING_USERNAME") or _user(),
        SOURCE_NAME_TAG: source or source_name(),
        SOURCE_TYPE_TAG: "LOCAL",
        GIT_COMMIT_TAG: git_commit(),
    }
    return tags | {tag: os.environ[name] for name, tag in DVC_TAGS.items() if os.environ.get(name)}


def _user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid, as in some containers
        return "unknown"


def source_name():
    """The command this process runs: `digitnet train` (which `digitnet` puts in sys.argv[0]),
    else the module run with `python -m` (`digitnet.train`), else the script's name."""
    if sys.argv and sys.argv[0].startswith("digitnet "):
        return sys.argv[0]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.removesuffix(".__main__")
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


def git_commit(cwd=None):
    """The checked-out commit, or 'unknown' outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()
