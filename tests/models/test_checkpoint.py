import dataclasses
import json
import os
import pickle
import struct

import pytest
import torch

from napari_bright4b.errors import CheckpointError
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, load_backbone, load_checkpoint, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.header import CARD_KEY, read_header
from napari_bright4b.models.presets import PRESETS

HEAD = HeadConfig(class_names=("nuclei", "mitochondria"))


@pytest.fixture(scope="module")
def card():
    return ModelCard(
        name="test-nano",
        config=PRESETS["nano"].config,
        head=HEAD,
        voxel_size=(0.29, 0.108, 0.108),
        provenance={"steps": 3, "date": "2026-11-21"},
        metrics={"dice": {"nuclei": 0.9}},
        thresholds={"nuclei": 0.45},
        views=2,
    )


@pytest.fixture(scope="module")
def saved(card, tmp_path_factory):
    model = build_model(card).eval()
    path = save_checkpoint(model, card, tmp_path_factory.mktemp("ckpt") / "model.safetensors")
    return model, path


def rewrite_header(src, dst, mutate_header, length_low_byte=None):
    """Copy a checkpoint, editing its header dict (tensors untouched); optionally pad the
    header with spaces until its length's low byte is ``length_low_byte``."""
    raw = src.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    mutate_header(header)
    blob = json.dumps(header).encode()
    while length_low_byte is not None and len(blob) % 256 != length_low_byte:
        blob += b" "
    dst.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + length :])
    return dst


def rewrite_card(src, dst, mutate):
    """Copy a checkpoint, editing its card JSON with ``mutate(dict)``."""

    def edit(header):
        card = json.loads(header["__metadata__"][CARD_KEY])
        mutate(card)
        header["__metadata__"][CARD_KEY] = json.dumps(card)

    return rewrite_header(src, dst, edit)


def test_round_trip_gives_identical_outputs_and_card(saved, card):
    model, path = saved
    loaded, loaded_card = load_checkpoint(path)
    assert loaded_card.to_dict() == card.to_dict()
    x = torch.randn(1, 1, 5, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training


def test_save_is_atomic_and_leaves_no_temporary_files(saved, card, tmp_path, monkeypatch):
    model, _ = saved
    target = tmp_path / "m.safetensors"
    save_checkpoint(model, card, target)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("napari_bright4b.models.checkpoint.save_file", explode)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(model, card, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_pickle_files_are_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("evil.pt", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Payload(), protocol=4))
        with pytest.raises(CheckpointError, match="never unpickles"):
            load_checkpoint(path)
    assert not marker.exists()


def test_zip_style_torch_files_are_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(CheckpointError, match="zip archive"):
        read_header(path)


def test_truncated_file_is_refused(saved, tmp_path):
    _, path = saved
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="truncated"):
        read_header(tiny)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda c: c.update(format_version=99), "format_version"),
        (lambda c: c.pop("voxel_size"), "voxel_size"),
        (lambda c: c.update(voxel_size=[0.3, -1, 0.1]), "voxel_size"),
        (lambda c: c.update(tile=[32, 128]), "tile"),
        (lambda c: c.update(modality="x-ray"), "modality"),
        (lambda c: c.update(name=""), "name"),
        (lambda c: c.update(normalization={"low": 99, "high": 1}), "normalization"),
        (lambda c: c["config"].update(colour=1), "config"),
        (lambda c: c["head"].update(activation="tanh"), "head"),
        (lambda c: c.update(metrics=[1, 2]), "metrics"),
        (lambda c: c.update(voxel_size=[10**400, 1, 1]), "voxel_size"),
        (lambda c: c["config"].update(kv_heads=0), "config"),
        (lambda c: c["config"].update(kappa=0), "config"),
        (lambda c: c["config"].update(brick=[2, 0, 4]), "config"),
        (lambda c: c["config"].update(depth=4.0), "config"),
        (lambda c: c["config"].update(patch=[2, 8, 8]), "config"),
        (lambda c: c["head"].update(class_names="nuclei"), "head"),
        (lambda c: c.update(thresholds={"golgi": 0.5}), "thresholds"),
        (lambda c: c.update(thresholds={"nuclei": 1.0}), "thresholds"),
        (lambda c: c.update(thresholds={"nuclei": True}), "thresholds"),
        (lambda c: c.update(thresholds=[0.5]), "thresholds"),
        (lambda c: c.update(views=3), "views"),
        (lambda c: c.update(views=True), "views"),
        (lambda c: c.update(deconvolution={"iterations": 20, "tv": 0.002}), "deconvolution"),  # a segmentation card
        (lambda c: c.update(deconvolution=[20]), "deconvolution"),
    ],
)
def test_malformed_cards_are_refused_naming_the_field(saved, tmp_path, mutate, field):
    _, path = saved
    bad = rewrite_card(path, tmp_path / "bad.safetensors", mutate)
    with pytest.raises(CheckpointError, match=f"'{field}'"):
        load_checkpoint(bad)


def test_cards_written_before_thresholds_and_views_existed_load_without_them(saved, tmp_path):
    _, path = saved
    older = rewrite_card(path, tmp_path / "older.safetensors", lambda c: c.pop("thresholds"))
    assert load_checkpoint(older)[1].thresholds == {}
    no_views = rewrite_card(path, tmp_path / "no_views.safetensors", lambda c: c.pop("views"))
    assert load_checkpoint(no_views)[1].views == 1
    blind = rewrite_card(path, tmp_path / "blind.safetensors", lambda c: c.pop("deconvolution"))
    assert load_checkpoint(blind)[1].deconvolution == {}


@pytest.mark.parametrize(
    "settings, accepted",
    [
        ({"iterations": 20, "tv": 0.002}, True),
        ({"iterations": 5, "tv": 0}, True),
        ({"iterations": 0, "tv": 0.002}, False),
        ({"iterations": 20.0, "tv": 0.002}, False),
        ({"iterations": 20, "tv": 0.5}, False),
        ({"iterations": 20}, False),
        ({"iterations": 20, "tv": 0.002, "psf": "x"}, False),
    ],
)
def test_a_deblurring_card_carries_its_deconvolution_settings_or_names_what_is_wrong(settings, accepted, tmp_path):
    head = HeadConfig(task="deblur", class_names=("sharp",))
    card = ModelCard(name="refine", config=PRESETS["nano"].config, head=head)
    path = save_checkpoint(build_model(card), card, tmp_path / "refine.safetensors")
    given = rewrite_card(path, tmp_path / "given.safetensors", lambda c: c.update(deconvolution=settings))
    if accepted:
        assert load_checkpoint(given)[1].deconvolution == {k: type(v)(v) for k, v in settings.items()}
    else:
        with pytest.raises(CheckpointError, match="'deconvolution'"):
            load_checkpoint(given)


def test_config_tensor_mismatch_names_the_tensor(saved, tmp_path):
    _, path = saved
    wider = rewrite_card(path, tmp_path / "wide.safetensors", lambda c: c["config"].update(dim=96))
    with pytest.raises(CheckpointError, match="tensor '.*' has shape"):
        load_checkpoint(wider)

    def three_classes(card):
        card["head"].update(class_names=["a", "b", "c"])
        card["thresholds"] = {}

    more_classes = rewrite_card(path, tmp_path / "cls.safetensors", three_classes)
    with pytest.raises(CheckpointError, match="head.out.conv"):
        load_checkpoint(more_classes)


def test_file_without_a_card_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no bright4b model card"):
        read_header(path)


def test_save_requires_the_safetensors_suffix(saved, card, tmp_path):
    with pytest.raises(CheckpointError, match=".safetensors"):
        save_checkpoint(saved[0], card, tmp_path / "model.pt")
    assert os.listdir(tmp_path) == []


def test_header_lengths_that_start_like_pickle_or_zip_still_load(saved, tmp_path):
    _, path = saved
    for low_byte in (0x80, 0x50):
        copy = rewrite_header(path, tmp_path / f"pad{low_byte}.safetensors", lambda h: None, low_byte)
        assert copy.read_bytes()[0] == low_byte
        load_checkpoint(copy)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h[next(k for k in h if k != "__metadata__")].update(data_offsets=["a", "b"]),
        lambda h: h[next(k for k in h if k != "__metadata__")].update(data_offsets=[10, 2]),
        lambda h: h[next(k for k in h if k != "__metadata__")].update(shape=[-1]),
        lambda h: h.update(__metadata__="card"),
        lambda h: h["__metadata__"].update({CARD_KEY: "[" * 100000}),
    ],
)
def test_malformed_headers_are_refused_cleanly(saved, tmp_path, mutate):
    _, path = saved
    with pytest.raises(CheckpointError):
        read_header(rewrite_header(path, tmp_path / "bad.safetensors", mutate))


def test_loads_into_a_requested_dtype(saved):
    model, path = saved
    loaded, _ = load_checkpoint(path, dtype=torch.bfloat16)
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    x = torch.randn(1, 1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x.bfloat16()).float(), model(x), atol=0.1)


def test_centred_routing_reaches_every_layer_and_survives_a_round_trip(card, tmp_path):
    centred = dataclasses.replace(card, config=dataclasses.replace(card.config, centred_routing=True))
    trained = build_model(centred)
    trained(torch.randn(1, 1, 4, 32, 32))  # a training forward sets each layer's running centre
    path = save_checkpoint(trained, centred, tmp_path / "centred.safetensors")
    model, loaded = load_checkpoint(path, dtype=torch.bfloat16)
    assert loaded.config.centred_routing and all(block.moe.centred for block in model.blocks)
    for mine, theirs in zip(model.blocks, trained.blocks):
        torch.testing.assert_close(mine.moe.router_centre.float(), theirs.moe.router_centre, atol=0.02, rtol=0.02)
        assert int(mine.moe.router_centre_updates) == 1
    assert not any(block.moe.centred for block in build_model(card).blocks)  # off unless asked for
    plain = save_checkpoint(build_model(card), card, tmp_path / "plain.safetensors")
    older = rewrite_card(plain, tmp_path / "older.safetensors", lambda c: c["config"].pop("centred_routing"))
    assert not load_checkpoint(older)[1].config.centred_routing  # cards from before the option route as before


def test_initialising_copies_the_head_only_where_the_heads_match(saved, card):
    source = saved[0].state_dict()
    same = build_model(card)
    load_backbone(same, card, saved[1])
    assert all(torch.equal(same.state_dict()[name], tensor) for name, tensor in source.items())

    other_card = dataclasses.replace(card, head=HeadConfig(class_names=("nuclei", "nucleoli")))
    other = build_model(other_card)
    before = {name: t.clone() for name, t in other.state_dict().items() if name.startswith("head.")}
    assert any(not torch.equal(source[name], tensor) for name, tensor in before.items())  # a copy would show
    load_backbone(other, other_card, saved[1])
    after = other.state_dict()
    assert before and all(torch.equal(after[name], tensor) for name, tensor in before.items())
    assert all(torch.equal(after[name], t) for name, t in source.items() if not name.startswith("head."))


def test_initialising_a_multiplicative_deblur_head_copies_the_additive_ones_weights(card, tmp_path):
    free = dataclasses.replace(card, head=HeadConfig("deblur", ("sharp",)), thresholds={}, metrics={})
    source = build_model(free)
    path = save_checkpoint(source, free, tmp_path / "free.safetensors")
    other = dataclasses.replace(free, head=HeadConfig("deblur", ("sharp",), correction="multiplicative"))
    model = build_model(other)
    load_backbone(model, other, path)
    assert all(torch.equal(model.state_dict()[k], t) for k, t in source.state_dict().items())
    reloaded = load_checkpoint(save_checkpoint(model, other, tmp_path / "other.safetensors"))[1]
    assert reloaded.head == other.head


def test_initialising_across_routing_settings_copies_the_weights_and_keeps_the_new_routing(saved, card, tmp_path):
    routing = dict(centred_routing=True, balance_weight=0.1, routing_confidence=0.0, router_context=True)
    target_card = dataclasses.replace(card, config=dataclasses.replace(card.config, **routing))
    target = build_model(target_card)
    load_backbone(target, target_card, saved[1])
    assert all(torch.equal(target.state_dict()[name], t) for name, t in saved[0].state_dict().items())
    assert all(block.moe.centred and block.moe.balance_weight == 0.1 for block in target.blocks)
    assert all(not block.moe.router_context.any() for block in target.blocks)  # the context starts silent
    x = torch.randn(1, 1, 4, 32, 32)
    with torch.no_grad():  # so until training moves the centre and the context, it routes as its checkpoint
        torch.testing.assert_close(target.eval()(x), saved[0](x))
    assert all(int(block.moe.router_centre_updates) == 0 for block in target.blocks)  # its centre is learned anew
    path = save_checkpoint(target, target_card, tmp_path / "centred.safetensors")
    back = build_model(card)
    load_backbone(back, card, path)  # and an uncentred model starts from it, leaving the centre
    assert all(torch.equal(back.state_dict()[name], t) for name, t in saved[0].state_dict().items())
    hidden = card.config.expert_hidden + 1
    wider = dataclasses.replace(card, config=dataclasses.replace(card.config, expert_hidden=hidden))
    with pytest.raises(CheckpointError, match="backbone is not this model's"):
        load_backbone(build_model(wider), wider, saved[1])
    plain_stem = dataclasses.replace(card, config=dataclasses.replace(card.config, decoder_stem="unetr"))
    path = save_checkpoint(build_model(plain_stem), plain_stem, tmp_path / "unetr.safetensors")
    with pytest.raises(CheckpointError, match="backbone is not this model's"):  # no stem level to route by
        load_backbone(target, target_card, path)
