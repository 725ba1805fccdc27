"""napari-bright4b: 3D foundation models for label-free microscopy, in napari and headless."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-bright4b")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .api import load_model  # noqa: E402

__all__ = ["__version__", "load_model"]
