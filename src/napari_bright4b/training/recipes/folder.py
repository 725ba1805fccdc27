"""Training on the user's own data: a folder of image/label TIFF pairs.

Layout: ``DIR/images/NAME.tif`` and ``DIR/labels/NAME.tif`` with the same names and the
same ``Z, Y, X`` shape. Labels hold class indices: 0 = background, 1..K = the classes
named by the user (one class: a sigmoid mask; several: softmax with a background
channel). The model trains at the images' own voxel size (``voxel_size`` if given, else
the TIFF metadata); the last pair is held out for scoring when there are at least two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...analysis.metrics import segmentation_metrics
from ...data.io import read_image
from ...data.tiff import SUFFIXES
from ...errors import BadInputError
from ...inference.normalize import percentile_normalize
from ...inference.postprocess import class_thresholds, masks
from ...inference.predict import run_model
from ...models.card import ModelCard
from ...models.config import HeadConfig
from ...models.presets import PRESETS
from ..patches import Example
from .catalog import Recipe
from .organelles import mean_scores

PATCH = (32, 64, 64)


def image_label_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """``(image, labels)`` paths, sorted by name; a clear error for a wrong layout."""
    folder = Path(folder)
    images, labels = folder / "images", folder / "labels"
    if not images.is_dir() or not labels.is_dir():
        raise BadInputError(f"{folder} must hold 'images/' and 'labels/' folders of TIFFs with matching names")
    pairs = []
    for image in sorted(p for p in images.iterdir() if p.suffix.lower() in SUFFIXES):
        label = labels / image.name
        if not label.is_file():
            raise BadInputError(f"no labels for {image.name}: expected {label}")
        pairs.append((image, label))
    if not pairs:
        raise BadInputError(f"{images} holds no .tif/.tiff images")
    return pairs


def read_pair(image_path: Path, label_path: Path, classes: int) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Image ``(C, Z, Y, X)``, labels ``(Z, Y, X)`` uint8 and the image's voxel size."""
    image = read_image(image_path)
    labels = np.asarray(read_image(label_path).data)
    if labels.shape[0] != 1:
        raise BadInputError(f"{label_path.name}: labels must have one channel, got {labels.shape[0]}")
    labels = labels[0]
    if labels.shape != image.data.shape[1:]:
        raise BadInputError(
            f"{image_path.name}: labels {labels.shape} and image {tuple(image.data.shape[1:])} differ in shape"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > classes:
        raise BadInputError(
            f"{label_path.name}: labels must be integers 0..{classes} (0 = background, one value per named "
            f"class), got {labels.dtype} values {labels.min()}..{labels.max()}"
        )
    return np.asarray(image.data, dtype=np.float32), labels.astype(np.uint8), image.voxel_size


def folder_recipe(
    folder: str | Path,
    class_names: Sequence[str],
    name: str,
    voxel_size: Sequence[float] | None = None,
    modality: str = "brightfield",
) -> Recipe:
    """A :class:`Recipe` over the folder's pairs (indices stand in for seeds)."""
    pairs = image_label_pairs(folder)
    if not class_names or len(set(class_names)) != len(class_names):
        raise BadInputError(f"name each class once (--classes), got {list(class_names)}")
    image, _, found = read_pair(*pairs[0], len(class_names))
    voxel = voxel_size or found
    if voxel is None:
        raise BadInputError(f"{pairs[0][0].name} records no voxel size; give it with --voxel-size Z Y X (um)")
    sigmoid = len(class_names) == 1
    if sigmoid:
        head = HeadConfig("segment", tuple(class_names), "sigmoid")
    else:
        head = HeadConfig("segment", ("background", *class_names), "softmax")
    config = replace(PRESETS["nano"].config, in_channels=image.shape[0])
    card = ModelCard(
        name=name,
        config=config,
        head=head,
        voxel_size=tuple(float(v) for v in voxel),
        modality=modality,
        tile=PATCH,
        description=f"Trained on {len(pairs)} image/label pairs from {Path(folder).name}",
        provenance={"recipe": "folder", "data": str(Path(folder).resolve()), "pairs": [p[0].name for p in pairs]},
    )

    def example(index: int) -> Example:
        image, labels, _ = read_pair(*pairs[index], len(class_names))
        target = labels[None] if not sigmoid else (labels > 0)[None].astype(np.uint8)
        return Example(percentile_normalize(image, **card.normalization), target)

    def evaluate(model, card: ModelCard, indices: Iterable[int]) -> dict:
        indices = list(indices)
        runs = []
        for index in indices:
            image, labels, _ = read_pair(*pairs[index], len(class_names))
            probabilities = run_model(model, card, image)
            if sigmoid:  # cut as ``bright4b segment`` cuts by default
                found, _ = masks(probabilities, class_thresholds("model", class_names, card.thresholds))
                predicted = [found[0] > 0]
            else:
                winner = np.argmax(probabilities, axis=0)
                predicted = [winner == k + 1 for k in range(len(class_names))]
            runs.append(
                {
                    name: segmentation_metrics(mask, labels == k + 1, card.voxel_size)
                    for k, (name, mask) in enumerate(zip(class_names, predicted))
                }
            )
        return mean_scores(runs, indices, card.thresholds) if runs else {"held_out_seeds": []}

    held_out = (len(pairs) - 1,) if len(pairs) > 1 else ()
    train = tuple(range(len(pairs) - len(held_out)))
    return Recipe("folder", lambda: card, example, evaluate, train, held_out, PATCH, steps=1000)
