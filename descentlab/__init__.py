"""descentlab: a from-scratch deep-learning optimization laboratory on NumPy."""

__version__ = "0.1.0"
