"""napari layer data built without napari or Qt: what the reader and writer contributions
hand to and take from napari (``(data, kwargs, kind)`` tuples, scale in micrometres)."""
