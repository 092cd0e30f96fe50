"""The DVC pipeline's stages, one module each: ingest → preprocess → train → evaluate.

Each module has one plain work function, called with keyword arguments, and a `main()` that
composes the config and calls it; `python -m digitnet.stages.<name> [overrides]` runs a stage.
"""
