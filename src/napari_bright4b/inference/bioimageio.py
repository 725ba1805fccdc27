"""Export a model as a bioimage.io package (model spec 0.5), for the ecosystem's other tools.

The package holds the network as bioimage.io runs it (:class:`BioimageioNetwork`: one
normalized tile in, per-class probabilities or the deblurred tile out, averaged over the
card's views), its weights as a PyTorch state dict (loaded there with
``weights_only=True``), a test input simulated at the model's voxel size and the output
this engine computes for it, a cover image, a README, and the card (metrics, thresholds,
provenance) under ``config.bright4b``. Preprocessing is the engine's: the 1st and 99.8th
percentiles of the input scaled to 0 and 1. Needs the ``bioimageio`` extra
(``bioimageio.spec``; ``bioimageio.core`` to test a package).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import BadInputError
from ..models.card import ModelCard
from ..models.checkpoint import build_model
from ..models.session import ModelSession
from .predict import _model_predict
from .views import average_views

TASKS = ("segment", "deblur")
INPUT, OUTPUT = "raw", "prediction"


class BioimageioNetwork(torch.nn.Module):
    """``(B, 1, Z, Y, X)`` normalized -> ``(B, K, Z, Y, X)``: the model's activated output
    averaged over its card's views. ``card``: the model card as a dict (a package's kwargs)."""

    def __init__(self, card: dict):
        super().__init__()
        self.card = ModelCard.from_dict(card)
        self.net = build_model(self.card)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return average_views(_model_predict(self.net, self.card.head), self.card.views)(batch)


def _test_input(card: ModelCard, shape: tuple[int, int, int]) -> np.ndarray:
    """A simulated volume the model was made for: a brightfield colony or a light-sheet stack."""
    if card.head.task == "segment":
        from ..data.synthetic.brightfield import simulate_brightfield

        return simulate_brightfield(shape, card.voxel_size, 0).image.astype(np.float32)
    from ..data.synthetic.lightsheet import simulate_lightsheet

    return simulate_lightsheet(shape, card.voxel_size, 0, "nuclear", "light-sheet").image.astype(np.float32)


def _normalized(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """As bioimage.io's ``scale_range`` computes it over the whole sample."""
    low, high = np.percentile(image, [card.normalization["low"], card.normalization["high"]])
    return ((image - low) / (high - low + 1e-6)).astype(np.float32)


def _cover(image: np.ndarray, output: np.ndarray, card: ModelCard, path: Path) -> None:
    """Input and output mid-slices side by side (2:1)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    z = image.shape[0] // 2
    figure, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=100)
    axes[0].imshow(image[z], cmap="gray")
    axes[0].set_title("input (simulated)")
    shown = output[:, z].max(0) if card.head.task == "segment" else output[0, z]
    axes[1].imshow(shown, cmap="magma" if card.head.task == "segment" else "gray")
    axes[1].set_title("probabilities (max over classes)" if card.head.task == "segment" else "deblurred")
    for axis in axes:
        axis.axis("off")
    figure.savefig(path)
    plt.close(figure)


def _readme(card: ModelCard, shape) -> str:
    lines = [
        f"# {card.name}",
        "",
        card.description or "A Bright-4B model.",
        "",
        f"Exported by napari-bright4b {__version__}. Trained on simulations only (see the project's docs/models.md).",
        "",
        f"- task: {card.head.task}; classes: {', '.join(card.head.class_names)}",
        f"- voxel size the model expects: {tuple(card.voxel_size)} um (z, y, x); resample other data to it",
        f"- input: one channel, normalized from its {card.normalization['low']}th and "
        f"{card.normalization['high']}th percentiles to 0 and 1",
        f"- output averaged over {card.views} y-x views of the input; sizes are multiples of "
        f"{tuple(card.config.spatial_multiple)} (z, y, x); the test tensors are {tuple(shape)}",
    ]
    if card.thresholds:
        lines.append(f"- per-class cuts chosen on training data: {card.thresholds}")
    if card.head.task == "deblur":
        lines.append("- the deblurred output is in normalized units (the napari plugin maps it back to the input's)")
    if card.metrics:
        lines.append(f"- held-out metrics: {card.metrics}")
    return "\n".join(lines) + "\n"


def _axes(bio, card: ModelCard, output: bool) -> list:
    """Batch, channel and z, y, x axes in micrometres; an output's sizes follow the input's."""
    names = card.head.class_names if card.head.task == "segment" else ("deblurred",)
    channels = [bio.Identifier(n.replace(" ", "_")) for n in names] if output else [bio.Identifier("raw")]
    space = []
    for a, m, scale in zip("zyx", card.config.spatial_multiple, card.voxel_size):
        if output:
            size = bio.SizeReference(tensor_id=bio.TensorId(INPUT), axis_id=bio.AxisId(a))
            space.append(bio.SpaceOutputAxis(id=bio.AxisId(a), size=size, scale=scale, unit="micrometer"))
        else:
            size = bio.ParameterizedSize(min=m, step=m)
            space.append(bio.SpaceInputAxis(id=bio.AxisId(a), size=size, scale=scale, unit="micrometer"))
    return [bio.BatchAxis(), bio.ChannelAxis(channel_names=channels), *space]


def _description(bio, card: ModelCard, folder: Path):
    """The model description of the files in ``folder``."""
    scale_range = bio.ScaleRangeKwargs(
        axes=[bio.AxisId(a) for a in "zyx"],
        min_percentile=card.normalization["low"],
        max_percentile=card.normalization["high"],
    )
    inputs = bio.InputTensorDescr(
        id=bio.TensorId(INPUT),
        axes=_axes(bio, card, output=False),
        test_tensor=bio.FileDescr(source=folder / "test_input.npy"),
        preprocessing=[bio.ScaleRangeDescr(kwargs=scale_range)],
    )
    outputs = bio.OutputTensorDescr(
        id=bio.TensorId(OUTPUT),
        axes=_axes(bio, card, output=True),
        test_tensor=bio.FileDescr(source=folder / "test_output.npy"),
    )
    architecture = bio.ArchitectureFromLibraryDescr(
        callable=bio.Identifier("BioimageioNetwork"),
        import_from="napari_bright4b.inference.bioimageio",
        kwargs={"card": card.to_dict()},
    )
    weights = bio.PytorchStateDictWeightsDescr(
        source=folder / "weights.pt",
        architecture=architecture,
        pytorch_version=bio.Version(torch.__version__.split("+")[0]),
    )
    return bio.ModelDescr(
        name=card.name,
        description=(card.description or "A Bright-4B model")[:1000],
        authors=[bio.Author(name="napari-bright4b developers")],
        cite=[bio.CiteEntry(text="Bright-4B (arXiv 2512.22423)", url="https://arxiv.org/abs/2512.22423")],
        license=bio.LicenseId("BSD-3-Clause"),
        documentation=bio.FileDescr(source=folder / "README.md"),
        covers=[bio.FileDescr(source=folder / "cover.png")],
        tags=["3d", "brightfield" if card.head.task == "segment" else "light-sheet", card.head.task, "bright4b"],
        inputs=[inputs],
        outputs=[outputs],
        weights=bio.WeightsDescr(pytorch_state_dict=weights),
        config={"bright4b": {"card": card.to_dict(), "exported_by": __version__}},
    )


def _network(spec, test_shape) -> tuple[BioimageioNetwork, ModelCard, tuple]:
    """The model as bioimage.io runs it, its card and the test shape, checked."""
    with ModelSession(spec, "cpu") as session:
        card = session.card
        if card.head.task not in TASKS:
            raise BadInputError(f"{card.name} is a {card.head.task} model; bioimage.io export takes {', '.join(TASKS)}")
        if card.deconvolution:
            raise BadInputError(
                f"{card.name} refines a Richardson-Lucy deconvolution with the user's PSF, which a bioimage.io "
                "package cannot run before the model; export a model that reads the image itself"
            )
        shape = tuple(test_shape or card.tile)
        multiple = card.config.spatial_multiple
        if any(s % m for s, m in zip(shape, multiple)):
            raise BadInputError(f"the test shape {shape} must be a multiple of {tuple(multiple)} (z, y, x)")
        network = BioimageioNetwork(card.to_dict())
        network.net.load_state_dict(session.model.state_dict())
    return network.eval(), card, shape


def export_bioimageio(spec: str | os.PathLike, out: str | os.PathLike, test_shape=None) -> Path:
    """Write model ``spec`` as a bioimage.io package ``out`` (``.zip``), atomically; the test
    tensors have ``test_shape`` (z, y, x; default the card's tile). Nothing is fetched: the
    description is checked without network access."""
    try:
        from bioimageio.spec import ValidationContext, save_bioimageio_package
        from bioimageio.spec.model import v0_5 as bio
    except ImportError:
        raise BadInputError(
            "bioimage.io export needs bioimageio.spec: pip install 'napari-bright4b[bioimageio]'"
        ) from None
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise BadInputError(f"a bioimage.io package is a .zip file, got {out.name}")
    network, card, shape = _network(spec, test_shape)
    image = _test_input(card, shape)
    with torch.no_grad():
        output = network(torch.from_numpy(_normalized(image, card))[None, None])[0].numpy()
    with tempfile.TemporaryDirectory() as folder, ValidationContext(perform_io_checks=False):
        folder = Path(folder)
        np.save(folder / "test_input.npy", image[None, None])
        np.save(folder / "test_output.npy", output[None])
        torch.save(network.state_dict(), folder / "weights.pt")
        _cover(image, output, card, folder / "cover.png")
        (folder / "README.md").write_text(_readme(card, shape))
        written = save_bioimageio_package(
            _description(bio, card, folder), output_path=out.with_name(f".{out.name}.tmp")
        )
        os.replace(written, out)
    return out
