"""``pretrain``: a Bright-4B backbone learns unlabeled volumes by masked reconstruction, and
optionally by EMA-teacher distillation (:mod:`.ema_teacher`) and TokenUnify's next and
next-all token prediction (:mod:`.token_unify`).

Every input is read (TIFF, OME-Zarr, NIfTI), normalized by its percentiles and resampled
to one voxel size (given, else the first input's); patches of the model's tile are drawn
with flips, turns and intensity jitter, a share of their token-sized blocks hidden, and
the network (a backbone with a one-channel reconstruction head) is trained by
:func:`~..trainer.train` to fill them in. Under ``torchrun`` each process takes its share
of every global batch and DDP or FSDP2 (:mod:`..sharding`) averages the gradients (gloo on
CPU, NCCL on CUDA), so N processes with batch B train as one process with batch N x B (the
Soft-MoE load term, which is a statistic of each process's batch, aside). The checkpoint is a safetensors
model whose card records the objective, the inputs and the losses; its backbone starts
fine-tuning and training runs (``--init``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ...data.batch import expand
from ...data.io import read_image
from ...errors import BadInputError
from ...inference.normalize import percentile_normalize
from ...inference.resample import check_voxel_size, resize, target_shape
from ...models.bright4b import Bright4B
from ...models.card import ModelCard
from ...models.checkpoint import build_model, load_checkpoint
from ...models.config import Bright4BConfig, HeadConfig
from ...models.presets import PRESETS
from ..sharding import choose_strategy, distribute
from ..trainer import TrainResult, TrainSettings, train
from .captions import caption_patterns, read_captions
from .ema_teacher import reconstruction_objective
from .held_out import HeldOutCurve, read_curve
from .image_text import image_text_objective
from .masking import MaskedPatches, volume_patches

HEAD = HeadConfig(task="deblur", class_names=("reconstruction",), activation="identity")
OBJECTIVES = ("masked_reconstruction", "ema_teacher", "token_unify", "image_text")
MASK_RATIO = 0.6
DEFAULT_SETTINGS = TrainSettings(steps=500, warmup=20)


def load_volumes(files: Sequence[Path], voxel_size=None) -> tuple[list[np.ndarray], tuple, list]:
    """Every image ``(C, Z, Y, X)`` normalized and resampled to one voxel size: the given
    one, else the first file's (which must record one); that voxel size; and the one each
    file records (``None`` where it records none)."""
    volumes, recorded, target = [], [], check_voxel_size(voxel_size) if voxel_size is not None else None
    for path in files:
        volume = read_image(path)
        found = volume.voxel_size
        recorded.append(found)
        if target is None:
            if found is None:
                raise BadInputError(f"{path.name} records no voxel size; give the one to train at with --voxel-size")
            target = check_voxel_size(found)
        image = percentile_normalize(np.asarray(volume.data, dtype=np.float32))
        shape = target_shape(image.shape[1:], found or target, target)
        volumes.append(resize(image, shape))
    return volumes, target, recorded


def process_device() -> torch.device:
    """This process's device: its own GPU under torchrun (``LOCAL_RANK``), the first GPU
    alone, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    index = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(index)
    return torch.device(f"cuda:{index}")


@contextmanager
def process_group() -> tuple[int, int]:
    """``(rank, world)`` under torchrun (a process group for the run, then destroyed), else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 or dist.is_initialized():
        yield (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        return
    dist.init_process_group("nccl" if process_device().type == "cuda" else "gloo")
    try:
        yield dist.get_rank(), world
        dist.barrier()  # no rank tears its connections down while another still writes or reduces
    finally:
        dist.destroy_process_group()


def pretrain(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    preset: str = "nano",
    config: Bright4BConfig | None = None,
    settings: TrainSettings = DEFAULT_SETTINGS,
    voxel_size: Sequence[float] | None = None,
    mask_ratio: float = MASK_RATIO,
    mask_block: int = 1,
    objectives: Sequence[str] = ("masked_reconstruction",),
    captions: str | os.PathLike | None = None,
    sharding: str = "auto",
    held_out: Sequence[str | os.PathLike] = (),
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Pretrain a ``preset`` backbone (or one of ``config``) on ``inputs`` (files, folders,
    globs) by masked reconstruction (``mask_ratio`` of the blocks of ``mask_block`` tokens a
    side hidden), plus EMA-teacher distillation when ``objectives`` name
    ``ema_teacher`` (:mod:`.ema_teacher`) and TokenUnify's curriculum of random, next and
    next-all token prediction when they name ``token_unify`` (:mod:`.token_unify`) and
    image-text alignment against the ``captions`` file's captions when they name
    ``image_text`` (:mod:`.image_text`), saving to ``out``; per process under torchrun, the
    model spread over the processes by ``sharding`` (:mod:`..sharding`: ``auto`` shards
    ``base`` and ``full-4b``). With ``held_out`` volumes (files, folders, globs; never
    trained on) the masked-reconstruction loss on them is measured as the run goes
    (:mod:`.held_out`), returned as ``held_out`` and written to ``<out stem>.held_out.csv``."""
    if preset not in PRESETS:
        raise BadInputError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    objectives = check_objectives(objectives, captions)
    whole = {"ema_teacher", "image_text"} & set(objectives)  # these need the whole model on every process
    strategy = choose_strategy(sharding, None if whole else preset)
    if strategy == "fsdp" and whole:
        raise BadInputError(f"{' and '.join(sorted(whole))} need the whole model on every process; use --sharding ddp")
    patterns = caption_patterns(captions) if captions is not None else None
    files = expand(inputs)
    volumes, voxel, recorded = load_volumes(files, voxel_size)
    texts = read_captions(patterns, files, [r or voxel for r in recorded]) if patterns is not None else None
    config = _input_config(config or PRESETS[preset].config, volumes)
    unseen = load_volumes(expand(held_out), voxel)[0] if held_out else None
    if unseen is not None and any(v.shape[0] != config.in_channels for v in unseen):
        raise BadInputError("the held-out volumes must have the same number of channels as the inputs")
    card = _pretrain_card(Path(out).stem, config, voxel, files, mask_ratio, mask_block, objectives, texts)
    block = hidden_block(card, mask_block)
    model = _initial_model(card, out, resume, settings.seed)
    with process_group() as (rank, world):
        core = model.to(process_device())
        if world > 1:
            model = distribute(core, strategy)
        masking = (block, mask_ratio)
        batches = _masked_patches(volumes, card, settings, masking, objectives, (rank, world))
        log = Path(out) if rank == 0 else None
        curve = _held_out_curve(core, unseen, card, masking, settings.seed, log, resume)
        progress = curve.watching(progress) if curve is not None else progress
        with _objective(core, objectives, texts) as loss:
            result = train(model, card, batches, settings, out, resume=resume, progress=progress, loss=loss)
        if curve is not None:
            result.held_out = curve.finish(result.steps)
        del model, core  # DDP's reducer and FSDP's shards go before the process group they hold
    return result


def _held_out_curve(
    core: Bright4B,
    unseen: Sequence[np.ndarray] | None,
    card: ModelCard,
    masking: tuple[tuple[int, int, int], float],
    seed: int,
    out: Path | None,
    resume: bool,
) -> HeldOutCurve | None:
    """The held-out loss curve of ``core`` on the ``unseen`` volumes (``masking``: the hidden
    block in voxels and the share hidden, as in training), written beside ``out``
    (rank 0's model path) and continuing the points there when resuming, else with its
    step-0 point measured; ``None`` without volumes."""
    if unseen is None:
        return None
    points = read_curve(out) if resume and out is not None else ()
    curve = HeldOutCurve(core, unseen, card.tile, masking, seed, points=points, log=out)
    if not resume:
        curve.measure(0)
    return curve


def _masked_patches(
    volumes: Sequence[np.ndarray],
    card: ModelCard,
    settings: TrainSettings,
    masking: tuple[tuple[int, int, int], float],
    objectives: tuple[str, ...],
    process: tuple[int, int],
) -> MaskedPatches:
    """This ``process`` ``(rank, world)``'s batches of ``volumes``' patches, each patch's target
    the index of its volume, masked (``masking``: block in voxels, share hidden) at random or
    by TokenUnify's curriculum."""
    sampler = volume_patches(volumes, card.tile, np.random.default_rng(settings.seed))
    token_unify = "token_unify" in objectives
    return MaskedPatches(sampler, *masking, *process, token_unify=token_unify)


def hidden_block(card: ModelCard, tokens: int) -> tuple[int, int, int]:
    """The masked block of ``tokens`` tokens a side, in voxels ``(z, y, x)``; it must divide
    the card's tile into whole blocks, at least two."""
    grid = [t // p for t, p in zip(card.tile, card.config.patch)]
    whole = [n for n in range(1, max(grid) + 1) if all(g % n == 0 for g in grid)]
    fits = [n for n in whole if np.prod([g // n for g in grid]) >= 2]
    if tokens not in fits:
        raise BadInputError(
            f"a masked block of {tokens} tokens a side does not cut the {tuple(card.tile)} tile "
            f"({' x '.join(map(str, grid))} tokens) into whole blocks; use {', '.join(map(str, fits))}"
        )
    return tuple(tokens * p for p in card.config.patch)


@contextmanager
def _objective(core: Bright4B, objectives: tuple[str, ...], captions: Sequence[str] | None):
    """The trainer's loss for ``objectives``: masked reconstruction, with the EMA teacher's
    term and then the image-text terms (an ``nn.Module`` whose weights train too) added."""
    with reconstruction_objective(core, "ema_teacher" in objectives) as loss:
        if "image_text" not in objectives:
            yield loss
            return
        with image_text_objective(core, captions, loss) as objective:
            yield objective


def check_objectives(objectives: Sequence[str], captions: str | os.PathLike | None = None) -> tuple[str, ...]:
    """``objectives`` in :data:`OBJECTIVES` order; masked reconstruction is always among them,
    and ``image_text`` needs a ``captions`` file."""
    unknown = sorted(set(objectives) - set(OBJECTIVES))
    if unknown:
        raise BadInputError(f"unknown pretraining objective(s) {unknown}; use {', '.join(OBJECTIVES)}")
    if "masked_reconstruction" not in objectives:
        raise BadInputError("masked_reconstruction is always trained (the other objectives add to it)")
    if ("image_text" in objectives) != (captions is not None):
        raise BadInputError(
            "image_text needs captions, and only it reads them: give --captions FILE.json with image_text "
            "(docs/training.md)"
        )
    return tuple(o for o in OBJECTIVES if o in objectives)


def _input_config(config: Bright4BConfig, volumes: Sequence[np.ndarray]) -> Bright4BConfig:
    """``config`` taking the channels of ``volumes`` ``(C, Z, Y, X)``, which must all have as many."""
    config = replace(config, in_channels=volumes[0].shape[0])
    if any(v.shape[0] != config.in_channels for v in volumes):
        raise BadInputError("every input must have the same number of channels")
    return config


def _pretrain_card(
    name: str,
    config: Bright4BConfig,
    voxel_size: tuple,
    files: Sequence[Path],
    mask_ratio: float,
    mask_block: int,
    objectives: tuple[str, ...],
    captions: Sequence[str] | None,
) -> ModelCard:
    """The card of a backbone pretrained on ``files`` at ``voxel_size`` (z, y, x, um) with a
    one-channel reconstruction head, ``mask_ratio`` of its blocks of ``mask_block`` tokens a
    side hidden; its tile is one brick of tokens across, four deep."""
    multiple = config.spatial_multiple
    tile = (4 * multiple[0], multiple[1], multiple[2])
    return ModelCard(
        name=name,
        config=config,
        head=HEAD,
        voxel_size=voxel_size,
        tile=tile,
        description=f"Pretrained by {' and '.join(o.replace('_', ' ') for o in objectives)} "
        f"on {len(files)} unlabeled volume(s)",
        provenance={
            "recipe": "pretrain",
            "objectives": list(objectives),
            "mask_ratio": mask_ratio,
            "mask_block": mask_block,
            "inputs": [str(p) for p in files],
            "captions": None if captions is None else list(captions),
        },
    )


def _initial_model(card: ModelCard, out: str | os.PathLike, resume: bool, seed: int) -> Bright4B:
    """The model to start from, in train mode: the checkpoint at ``out`` when resuming (it must
    be ``card``'s backbone), else a new one seeded by ``seed``, the same on every process."""
    if resume:
        model, saved = load_checkpoint(out)
        if saved.config != card.config:
            raise BadInputError(f"{Path(out).name} is another backbone than this run's; resume with its own preset")
        earlier = saved.provenance.get("objectives")
        if earlier != card.provenance["objectives"]:
            raise BadInputError(f"{Path(out).name} was pretrained with {earlier}; resume with those objectives")
        model.train()
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the same initial weights on every process
        return build_model(card)
