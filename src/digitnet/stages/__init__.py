"""The DVC pipeline's stages, one module each: ingest → preprocess → train → evaluate.

Each is a leaf: a `main()` that composes the config and calls one library function; no other
module imports a stage. `python -m digitnet.stages.<name> [overrides]` runs one by hand.
"""
