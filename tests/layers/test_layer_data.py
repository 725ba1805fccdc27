import numpy as np
import pytest

from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.job import Result, Structure
from napari_bright4b.layers.layer_data import layer_input, layer_name, result_layers

MODEL_VOXEL = (0.29, 0.216, 0.216)


def source(**kwargs):
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    return layer_input("bf", "image", data, (0.5, 0.2, 0.2), (1.0, 2.0, 3.0), MODEL_VOXEL, **kwargs)


def result(task="segment", **kwargs):
    maps = np.random.default_rng(0).random((3, 4, 5, 6)).astype(np.float32)
    fields = dict(model="m", task=task, class_names=("a", "b", "c"), maps=maps, exclusive=False)
    fields.update(voxel_size=(0.5, 0.2, 0.2), device="cpu", tiles=1, seconds=0.1)
    fields.update(kwargs)
    return Result(**fields)


def test_names_join_input_model_and_output():
    assert layer_name("bf", "m", "nuclei mask") == "bf · m · nuclei mask"


def test_an_image_layer_becomes_a_view_with_its_voxel_size():
    checked = source()
    volume = checked.volume()
    assert volume.shape == (1, 4, 5, 6) and np.shares_memory(volume, checked.data)
    assert checked.voxel_size == (0.5, 0.2, 0.2) and checked.note is None
    assert np.allclose(checked.z_um(), [1.0, 1.5, 2.0, 2.5])


def test_an_unset_scale_means_the_models_voxel_size_with_a_note():
    checked = layer_input("bf", "image", np.zeros((4, 5, 6)), (1, 1, 1), (0, 0, 0), MODEL_VOXEL)
    assert checked.voxel_size == MODEL_VOXEL and "no voxel size" in checked.note


@pytest.mark.parametrize(
    "kind, shape, options, message",
    [
        ("labels", (4, 5, 6), {}, "is a labels layer; pick an Image layer"),
        ("image", (5, 6, 3), {"rgb": True}, "is an RGB image"),
        ("image", (5, 6), {}, "has 2 dimensions"),
        ("image", (2, 4, 5, 6), {}, "has 4 dimensions .* Split Stack"),
        ("image", (2, 4, 5, 6), {"multiscale": True}, "has 4 dimensions"),
    ],
)
def test_unusable_layers_are_refused_with_the_reason(kind, shape, options, message):
    data = [np.zeros(shape)] if options.get("multiscale") else np.zeros(shape)
    scale = (1.0,) * len(shape)
    with pytest.raises(BadInputError, match=message):
        layer_input("x", kind, data, scale, (0.0,) * len(shape), MODEL_VOXEL, **options)


def test_a_multiscale_or_lazy_layer_gives_its_finest_level_lazily():
    import dask.array as da

    finest = da.from_array(np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8), chunks=(2, 6, 8))
    checked = layer_input(
        "x", "image", [finest, finest[:, ::2, ::2]], (0.5, 0.2, 0.2), (0, 0, 0), MODEL_VOXEL, multiscale=True
    )
    volume = checked.volume()
    assert isinstance(volume, da.Array) and volume.shape == (1, 4, 6, 8)
    assert np.array_equal(volume.compute(), checked.in_memory()) and checked.voxel_size == (0.5, 0.2, 0.2)


def test_segmentation_layers_are_aligned_named_and_styled():
    structures = [Structure(n, k, np.zeros((4, 5, 6), np.uint8), 0.5) for k, n in enumerate("abc")]
    structures[2] = Structure("c", 2, np.zeros((4, 5, 6), np.uint32), 0.5)
    made = result(structures=structures, settings={"model": "m", "overlap": 0.25})
    layers = result_layers(made, source())
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names == [f"bf · m · {n}" for n in ("a probability", "b probability", "c probability")] + [
        "bf · m · a mask",
        "bf · m · b mask",
        "bf · m · c instances",
    ]
    assert all(k["scale"] == (0.5, 0.2, 0.2) and k["translate"] == (1.0, 2.0, 3.0) for _, k, _ in layers)
    probabilities = layers[:3]
    assert all(kind == "image" and k["blending"] == "additive" for _, k, kind in probabilities)
    assert len({k["colormap"] for _, k, _ in probabilities}) == 3
    assert layers[0][1]["colormap"] == "green" and layers[3][1]["colormap"][1] == "#00ff00"
    assert "colormap" not in layers[5][1] and layers[5][2] == "labels"
    tag = layers[3][1]["metadata"]["bright4b"]
    assert {k: tag[k] for k in ("input", "model", "output")} == {"input": "bf", "model": "m", "output": "a mask"}
    assert tag["settings"] == made.settings and tag["seconds"] == 0.1 and tag["finished"]


def test_exclusive_models_show_no_background_probability():
    maps = np.random.default_rng(0).random((3, 4, 5, 6)).astype(np.float32)
    structures = [Structure(n, k, np.zeros((4, 5, 6), np.uint8), None) for k, n in ((1, "b"), (2, "c"))]
    layers = result_layers(result(maps=maps, exclusive=True, structures=structures), source())
    assert [k["name"].split(" · ")[-1] for _, k, _ in layers] == ["b probability", "c probability", "b mask", "c mask"]


def test_deblurred_image_takes_the_inputs_contrast_and_colormap():
    layers = result_layers(
        result("deblur", class_names=("intensity",), maps=np.ones((1, 4, 5, 6), np.float32)),
        source(contrast_limits=(10, 200), colormap="magma"),
    )
    ((data, kwargs, kind),) = layers
    assert kind == "image" and data.shape == (4, 5, 6) and kwargs["name"] == "bf · m · deblurred"
    assert kwargs["contrast_limits"] == (10.0, 200.0) and kwargs["colormap"] == "magma"


def test_the_class_map_names_its_classes():
    class_map = np.full((4, 5, 6), 2, np.uint8)
    ((data, kwargs, kind),) = result_layers(result("classify", class_map=class_map), source())
    assert kind == "labels" and data is class_map and kwargs["name"] == "bf · m · class map"
    assert list(kwargs["features"]["index"]) == [1, 2, 3] and kwargs["features"]["class"] == ["a", "b", "c"]
