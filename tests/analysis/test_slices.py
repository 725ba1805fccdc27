import csv
import io

import numpy as np

from napari_bright4b.analysis.slices import slice_stats


def example():
    probability = np.zeros((3, 2, 2))
    probability[0] = [[0.9, 0.7], [0.1, 0.1]]
    probability[2] = 0.6
    mask = probability > 0.5  # slice 0: two voxels, slice 1: none, slice 2: all four
    return slice_stats(["nuclei"], [probability], [mask], z_um=np.array([1.0, 1.5, 2.0]))


def test_fraction_and_confidence_per_slice():
    stats = example()
    assert stats.slices == 3
    np.testing.assert_allclose(stats.fraction[0], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(stats.confidence[0], [0.8, np.nan, 0.6])


def test_the_table_as_csv_has_a_header_and_empty_cells_where_a_slice_has_no_class():
    rows = list(csv.reader(io.StringIO(example().to_csv())))
    assert rows[0] == ["z", "z (um)", "nuclei fraction", "nuclei confidence"]
    assert rows[1] == ["0", "1.0", "0.5", "0.8"]
    assert rows[2] == ["1", "1.5", "0.0", ""]
    assert example().to_csv(delimiter="\t").splitlines()[0] == "z\tz (um)\tnuclei fraction\tnuclei confidence"
