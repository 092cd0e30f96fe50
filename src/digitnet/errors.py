"""The one exception type a user is meant to see.

Anything raised as a `DigitnetError` is a problem with the user's input or settings: entry points
print its message as a single `error: ...` line and exit with status 2, without a traceback.
"""


class DigitnetError(Exception):
    """A user-facing error; its message says what is wrong, where, and how to fix it."""


class WorkbookError(DigitnetError):
    """The workbook cannot be read or does not hold valid digit data."""


class ConfigError(DigitnetError):
    """A setting is unknown, of the wrong type or out of range."""


class TrainingError(DigitnetError):
    """Training cannot go on, for example because the cost diverged."""


class StoreError(DigitnetError):
    """The MLflow store stays busy, has no space left, or refuses to write. `busy` says whether
    waiting longer could help."""

    def __init__(self, message, busy=False):
        super().__init__(message)
        self.busy = busy


class AccessError(DigitnetError):
    """A tracking server refused the user: unknown credentials, or too little permission."""


_VARIABLES = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"


def refused(exc, server, user=None):
    """The AccessError for MLflow's answer `exc` when `server` refused the user (HTTP 401 or
    403, MLflow's error codes UNAUTHENTICATED and PERMISSION_DENIED), else None.

    The user is MLFLOW_TRACKING_USERNAME as MLflow sent it; a DigitnetError that wrapped MLflow's
    answer counts by the answer it wrapped (its __context__).
    """
    while exc is not None and getattr(exc, "error_code", None) is None:
        exc = exc.__context__
    code = getattr(exc, "error_code", None)
    if code == "UNAUTHENTICATED":
        whose = f"the password of user {user}" if user else "the request without a user name"
        return AccessError(
            f"the MLflow server {server} refused {whose} (HTTP 401): "
            f"set {_VARIABLES} to your account there"
        )
    if code == "PERMISSION_DENIED":
        who = f"user {user}" if user else "this user"
        return AccessError(
            f"the MLflow server {server} denied {who} permission for this (HTTP 403): ask its "
            f"admin for EDIT on the experiment, or set {_VARIABLES} to an account that has it"
        )
    return None


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: runs end KILLED and nothing half-written is left."""

    signal_name = "SIGTERM"
    exit_status = 143  # 128 + SIGTERM


class OutputError(DigitnetError):
    """An output cannot be written where it is to go; nothing of the command's outputs is."""

    def __init__(self, path, reason):
        super().__init__(f"cannot write {path}: {reason}; nothing was written")
        self.path = path


class ArrayFileError(DigitnetError):
    """An .npz file digitnet wrote is damaged; it is rebuilt, never read as a pickle."""

    def __init__(self, path, damage):
        super().__init__(
            f"{path} is damaged ({damage}); rebuild it with `dvc repro`, or delete it and run "
            "the command again"
        )
        self.path = path


class MissingFileError(DigitnetError):
    """A file that an earlier stage writes is not there (a stage run by hand, out of order)."""

    def __init__(self, path):
        super().__init__(f"{path} not found; `dvc repro` builds it (the pipeline, in order)")
        self.path = path


class InputError(DigitnetError):
    """An input value the network cannot compute with: NaN, an infinity, or one that overflows.

    `row` and `col` (0-based) say where; `what` says what is wrong, e.g. 'holds nan'.
    """

    def __init__(self, row, col, what):
        super().__init__(f"row {row + 1}, column {col + 1} {what}")
        self.row, self.col, self.what = row, col, what
