"""XTrinode: the domain shared by every process (resource model, render, admission, CLI).

This package imports none of workflows/, activities/, gateway/ or workers/.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
