"""Formats read through bioio: its lazy TCZYX data and pixel sizes become (C, Z, Y, X) in um."""

import numpy as np
import pytest

from napari_bright4b.data.bioio_reader import read_bioio
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.errors import BadInputError

pytest.importorskip("bioio_ome_tiff")


def test_bioio_gives_czyx_lazily_with_the_voxel_size(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    path = write_tiff(tmp_path / "cells.ome.tif", data, (0.5, 0.2, 0.1))
    volume = read_bioio(path, channel=1)
    assert type(volume.data).__module__.startswith("dask") and volume.voxel_size == pytest.approx((0.5, 0.2, 0.1))
    assert np.array_equal(volume.data.compute(), data[1:2])


def test_a_format_without_its_plugin_is_refused_with_what_to_install(tmp_path):
    path = tmp_path / "scan.czi"
    path.write_bytes(b"not a czi")
    with pytest.raises(BadInputError, match=r"scan.czi .*(bioio|napari-bright4b\[formats\])"):
        read_image(path)
