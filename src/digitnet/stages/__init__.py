"""The DVC pipeline's stages, one module each: ingest → preprocess → train → evaluate.

Each is a leaf: a `main()` that composes the config and calls one library function; no other
module imports a stage. `digitnet stage NAME [SETTINGS]` runs one, as dvc.yaml does; like
every `__init__.py` of the package, this one imports nothing.
"""

STAGES = ("ingest", "preprocess", "train", "evaluate")  # in the pipeline's order
