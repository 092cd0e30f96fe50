"""digitnet: a NumPy network for handwritten digits read from an Excel workbook."""

__version__ = "0.1.0"
