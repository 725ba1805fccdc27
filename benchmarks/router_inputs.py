"""Could a router tell the structures apart? Linear probes on what each Soft MoE reads.

    OMP_NUM_THREADS=2 python benchmarks/router_inputs.py --json OUT.json [--model M ...]

For each organelle model (default: ``bright4b-nano-organelles``), each held-out colony of
its recipe (seeds 9000-9002, our own simulator) runs in one pass at the model's voxel size
(no tiles). Each token takes the structure most of its voxels belong to (outside,
cytoplasm, nuclei). Per transformer layer, the MoE's input tokens (centred on their
sequence, averaged over the streams, standardized) feed a logistic regression (balanced
classes, 4-fold stratified shuffled cross-validation), scored by balanced accuracy:

- ``nuclei_vs_cytoplasm``: chance is 0.5;
- ``three_way``: outside / cytoplasm / nuclei, chance is 0.333.

The same probe on four image statistics per token (mean, standard deviation, 10th and
90th percentile of its voxels) says how much the token's own patch tells, and on the
decoder stem's coarsest convolutional features averaged under each token (what a model
with ``router_context`` routes by, besides the token) how much the stem holds. The router
is a cosine of such a token with the slot keys, so a structure it cannot see here it
cannot route by. Prints a table, writes JSON.
"""

from __future__ import annotations

import numpy as np
import torch
from _common import environment, model_comparison_args, write_json
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from napari_bright4b.api import load_model
from napari_bright4b.data.synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield
from napari_bright4b.data.synthetic.colony import structure_map
from napari_bright4b.inference.resample import resize_nearest
from napari_bright4b.models.bright4b import stem_under_tokens
from napari_bright4b.nn.token_lattice import BlockLattice
from napari_bright4b.training.recipes.organelles import HELD_OUT_SEEDS, SIMULATED_SHAPE

PADDING = (4, 64, 64)  # the volume is resized to a multiple of the NSA brick in voxels
NUCLEI, CYTOPLASM = 2, 1


def colony_tokens(model, card, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """For colony ``seed``: each layer's MoE inputs ``(tokens, dim)``, the token structures
    ``(tokens,)``, image statistics ``(tokens, 4)`` and the stem under each token ``(tokens,
    c)``, all in raster order."""
    sample = simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, seed)
    shape = [round(n * a / b) for n, a, b in zip(sample.image.shape, sample.voxel_size, card.voxel_size)]
    shape = tuple(int(np.ceil(n / m) * m) for n, m in zip(shape, PADDING))
    image = resize_nearest(sample.image.astype(np.float32)[None], shape)[0]
    labels = resize_nearest(structure_map(sample.colony)[None].astype(np.float32), shape)[0].astype(np.int64)
    low, high = np.percentile(image, [1, 99.8])
    inputs: list[torch.Tensor] = []
    hooks = [block.moe.register_forward_pre_hook(lambda _, args: inputs.append(args[0])) for block in model.blocks]
    normalized = torch.from_numpy(((image - low) / (high - low)).astype(np.float32))[None, None]
    config = model.config
    grid = tuple(n // p for n, p in zip(shape, config.patch))
    with torch.no_grad():
        model(normalized)
        stem = stem_under_tokens(model.decoder.stem(normalized)[-1], grid)[0].numpy()
    for hook in hooks:
        hook.remove()
    lattice, streams = BlockLattice(grid, config.brick), config.streams
    per_layer = []
    for tokens in inputs:
        tokens = tokens.float() - tokens.float().mean(1, keepdim=True)
        by_stream = tokens.view(1, streams, -1, tokens.shape[-1])
        per_layer.append(torch.stack([lattice.to_raster(by_stream[:, e])[0] for e in range(streams)]).mean(0).numpy())
    blocks = [patches_of(volume, grid, config.patch) for volume in (labels, image)]
    structures = np.stack([(blocks[0] == k).sum(-1) for k in range(3)]).argmax(0)
    statistics = np.stack([blocks[1].mean(-1), blocks[1].std(-1), *np.percentile(blocks[1], [10, 90], -1)], -1)
    return per_layer, structures, statistics, stem


def patches_of(volume: np.ndarray, grid, patch) -> np.ndarray:
    """``volume (Z, Y, X)`` as ``(tokens, voxels per token)`` in raster order."""
    (tz, ty, tx), (pz, py, px) = grid, patch
    return volume.reshape(tz, pz, ty, py, tx, px).transpose(0, 2, 4, 1, 3, 5).reshape(tz * ty * tx, -1)


def probe(features: np.ndarray, labels: np.ndarray) -> float:
    """Cross-validated balanced accuracy of a standardized logistic regression."""
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    folds = StratifiedKFold(4, shuffle=True, random_state=0)
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced")
    return round(float(cross_val_score(classifier, features, labels, cv=folds, scoring="balanced_accuracy").mean()), 3)


def scores(features: np.ndarray, structures: np.ndarray) -> dict:
    cell = (structures == NUCLEI) | (structures == CYTOPLASM)
    return {
        "nuclei_vs_cytoplasm": probe(features[cell], structures[cell] == NUCLEI),
        "three_way": probe(features, structures),
    }


def main() -> None:
    args = model_comparison_args(__doc__, "bright4b-nano-organelles")
    results = {}
    for name in args.model:
        model, card = load_model(name)
        colonies = [colony_tokens(model.eval(), card, seed) for seed in HELD_OUT_SEEDS]
        structures = np.concatenate([c[1] for c in colonies])
        depth = model.config.depth
        layers = [scores(np.concatenate([c[0][layer] for c in colonies]), structures) for layer in range(depth)]
        image = scores(np.concatenate([c[2] for c in colonies]), structures)
        stem = scores(np.concatenate([c[3] for c in colonies]), structures)
        tokens = np.bincount(structures, minlength=3).tolist()
        results[name] = {"tokens": tokens, "layers": layers, "image": image, "stem": stem}
        print(f"{name}: tokens outside / cytoplasm / nuclei {results[name]['tokens']}")
        print(f"{'features':>16}{'nuclei vs cyto':>16}{'three-way':>12}")
        rows = [
            *((f"layer {i + 1} input", row) for i, row in enumerate(layers)),
            ("image stats", image),
            ("stem", stem),
        ]
        for label, row in rows:
            print(f"{label:>16}{row['nuclei_vs_cytoplasm']:>16.3f}{row['three_way']:>12.3f}")
    if args.json:
        write_json(args.json, {"environment": environment(args.threads), "seeds": list(HELD_OUT_SEEDS), **results})


if __name__ == "__main__":
    main()
