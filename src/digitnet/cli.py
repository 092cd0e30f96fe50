"""What every entry point shares: composing the config and turning user errors into one line."""

import signal
import sys
from contextlib import contextmanager

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from digitnet.config import Config, conf_dir, to_config
from digitnet.errors import ConfigError, DigitnetError, Interrupted


def load_config(overrides=()):
    """Compose conf/config.yaml with command-line style overrides into a validated Config."""
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_first_lines(exc)) from None
    return to_config(cfg)


def _first_lines(exc):
    """Hydra's message in one line: the problem and, where Hydra lists them, the valid choices."""
    lines = str(exc).splitlines()
    first = lines[0].strip()
    if first.startswith("Could not override '"):
        key = first.split("'")[1]
        return f"unknown setting '{key}' (the valid keys are in conf/)"
    if "Available options in" in str(exc):
        options = [line.strip() for line in lines if line.startswith("\t") and "=" not in line]
        return f"{first}; choose one of {', '.join(options)}"
    return first


GROUPS = ("data", "model", "train", "tracking", "paths", "experiment", "hparams_search", "sweep")


def check_overrides(argv):
    """Refuse unknown keys and unknown presets on a Hydra app's command line, as one line.

    Hydra would refuse them too, but in its own words over several lines; this runs first so
    that the app fails like the DVC stages do. Values are checked per job, by the schema.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(_override_words(argv))
    except HydraException as exc:
        raise ConfigError(_first_lines(exc)) from None
    schema = OmegaConf.structured(Config)
    for override in overrides:
        key = override.key_or_group
        if key.startswith("hydra") or override.is_delete():
            continue
        if key in GROUPS:
            value = override.value()
            options = sorted(p.stem for p in (conf_dir() / key).glob("*.yaml"))
            if isinstance(value, str) and value not in options:
                raise ConfigError(f"no preset {key}={value}; choose one of {', '.join(options)}")
        elif OmegaConf.select(schema, key, default=_MISSING) is _MISSING:
            raise ConfigError(f"unknown setting '{key}' (the valid keys are in conf/)")


_MISSING = object()

# Hydra's own command-line options that take a value, and --info's optional one.
_OPTION_VALUES = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name"}
_OPTION_VALUES |= {"-cd", "--config-dir", "--experimental-rerun"}
_INFO = {"-i", "--info"}
_INFO_TOPICS = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def _override_words(argv):
    """The words of `argv` that are overrides, as Hydra's documented command line reads them.

    With --shell-completion the words are Hydra's commands (install=bash), not settings.
    """
    if {"-sc", "--shell-completion"} & set(argv):
        return []
    words, previous = [], None
    for word in argv:
        option_value = previous in _OPTION_VALUES or (previous in _INFO and word in _INFO_TOPICS)
        if not option_value and not word.startswith("-"):
            words.append(word)
        previous = word
    return words


def fail(message):
    """Print `error: message` on stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@contextmanager
def reported():
    """Turn user errors and interruptions into one line on stderr and an exit status.

    SIGTERM is raised as `Interrupted` (a KeyboardInterrupt), so that it unwinds exactly like
    Ctrl-C: MLflow runs end KILLED and atomic writes leave no half-written file.
    """

    def on_sigterm(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except DigitnetError as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:
        name = getattr(exc, "signal_name", "Ctrl-C")
        print(
            f"error: interrupted by {name}; no output was half-written, and the MLflow run, "
            "if one was open, is marked KILLED",
            file=sys.stderr,
        )
        sys.exit(getattr(exc, "exit_status", 130))
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(work, argv=None):
    """Run `work(config)` for a DVC stage; user errors exit 2 with one line, no traceback.

    Arguments are Hydra overrides (`train.lr=0.3`), so a stage can be tried by hand with other
    settings without editing conf/.
    """
    argv = sys.argv[1:] if argv is None else argv
    with reported():
        work(load_config(argv))
