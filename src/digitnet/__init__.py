"""digitnet: a NumPy network for handwritten digits read from an Excel workbook."""

import os

__version__ = "0.1.0"

# The usage reports of the tools digitnet runs stay off unless a user turns them on
# (MLFLOW_DISABLE_TELEMETRY=false, DVC_NO_ANALYTICS unset): README, "Telemetry".
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
