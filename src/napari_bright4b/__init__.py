"""napari-bright4b: 3D foundation models for label-free microscopy, in napari and headless.

The public API is imported lazily so that ``bright4b info`` and ``bright4b models``
start without importing torch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-bright4b")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "ModelSession", "classify", "deblur", "finetune", "inspect", "load_model", "segment"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'napari_bright4b' has no attribute {name!r}")
