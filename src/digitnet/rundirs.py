"""One folder per run and per sweep, whatever the clock says.

conf/config.yaml names a run's folder, and a sweep's, by the second it starts
(outputs/<date>/<time>). Two started in the same second would share one, and each would read the
other's model and scores. So the name goes through the resolver `digitnet.new_dir`, which
creates the folder itself, exclusively, and takes the next free name (<time>_2, <time>_3, ...)
when another process was first. Hydra resolves it once per command and hands the result to
every job (it copies resolved values into each job's settings), so a sweep's jobs share their
sweep's folder. A folder named on the command line (hydra.sweep.dir=...) is used as it is: that
is how a sweep is resumed.
"""

import itertools
from pathlib import Path

RESOLVER = "digitnet.new_dir"


def new_dir(path):
    """`path`, or the first free `path_2`, `path_3`, ...: a folder this call created."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = base if n == 1 else base.with_name(f"{base.name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return str(candidate)


def register():
    """Make `${digitnet.new_dir:...}` known to OmegaConf, once per process, before Hydra
    composes conf/ (also in launcher workers, which import the app's module)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, new_dir, use_cache=True)
