"""Demo data generator (``python -m demo``); see ``demo.generate``."""

from demo.generate import DemoManifest, DemoShape, load

__all__ = ["DemoManifest", "DemoShape", "load"]
