"""``bright4b pretrain INPUTS... -o OUT.safetensors``: self-supervised pretraining on unlabeled
volumes (masked reconstruction); under ``torchrun --nproc-per-node N -m napari_bright4b.cli
pretrain ...`` on N processes with DDP, or FSDP2 for the presets too large for one device."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import BadInputError
from .options import add_voxel_size, positive_float, positive_int, safetensors_output

HELP = "pretrain a backbone on unlabeled volumes (masked reconstruction, EMA teacher, TokenUnify, image-text)"
# training/pretrain/run.py's OBJECTIVES and training/sharding.py's STRATEGIES (no torch at start-up)
OBJECTIVES = ("masked_reconstruction", "ema_teacher", "token_unify", "image_text")
SHARDINGS = ("auto", "ddp", "fsdp")
OPTIMIZERS = ("adamw", "factored")  # training/trainer.py's


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


def add_parsers(sub) -> None:
    from ..models.presets import PRESETS

    parser = sub.add_parser("pretrain", help=HELP, description=HELP)
    parser.add_argument("inputs", nargs="+", help="unlabeled volumes: TIFF, OME-Zarr or NIfTI files, folders or globs")
    parser.add_argument("-o", "--output", required=True, help="the pretrained model (.safetensors)")
    parser.add_argument("--preset", choices=list(PRESETS), default="nano", help="backbone size (nano)")
    parser.add_argument("--steps", type=positive_int, default=500, help="optimizer steps (500)")
    parser.add_argument("--time-budget", type=positive_float, help="seconds (with --steps: whichever ends first)")
    parser.add_argument("--batch-size", type=positive_int, default=2, help="patches per step and process (2)")
    parser.add_argument("--mask-ratio", type=_ratio, default=0.6, help="share of blocks hidden (0.6)")
    parser.add_argument(
        "--mask-block",
        type=positive_int,
        default=1,
        help="side of a hidden block in tokens: 1 hides single tokens (2 x 16 x 16 voxels in nano), 2 cubes of 8 (1)",
    )
    parser.add_argument(
        "--objectives",
        nargs="+",
        choices=OBJECTIVES,
        default=["masked_reconstruction"],
        help="masked_reconstruction (always); ema_teacher: the student's tokens follow an EMA teacher's; "
        "token_unify: a curriculum of random, next and next-all token prediction; "
        "image_text: the tokens align with captions of each volume (needs --captions)",
    )
    parser.add_argument(
        "--captions",
        help="image_text: a JSON file mapping file-name patterns to caption fields "
        '(modality, stain, organism, structure), e.g. {"*dapi*": {"stain": "DAPI"}}',
    )
    parser.add_argument(
        "--sharding",
        choices=SHARDINGS,
        default="auto",
        help="under torchrun: ddp keeps the whole model on each process, fsdp shards it (FSDP2); "
        "auto shards base and full-4b (auto)",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adamw",
        help="adamw (two moments per weight) or factored (second moments as row and column means: a sliver of the "
        "memory, for full-4b) (adamw)",
    )
    parser.add_argument(
        "--held-out",
        nargs="+",
        default=[],
        metavar="INPUT",
        help="volumes never trained on: their masked-reconstruction loss is measured every 100 steps "
        "and written to OUT's stem + .held_out.csv",
    )
    add_voxel_size(parser)
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint at -o")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from ..training.pretrain.run import check_objectives, pretrain
    from ..training.trainer import TrainSettings

    out = safetensors_output(args.output, "the pretrained model")
    if args.resume and not out.is_file():
        raise BadInputError(f"--resume needs the checkpoint {out}; it does not exist")
    settings = TrainSettings(
        steps=args.steps,
        batch_size=args.batch_size,
        warmup=min(20, args.steps // 10),
        time_budget_s=args.time_budget,
        seed=args.seed,
        optimizer=args.optimizer,
    )
    main_process = os.environ.get("RANK", "0") == "0"
    show = not args.json and main_process and sys.stderr.isatty()

    def progress(step: int, total: int, loss: float) -> None:
        if show:
            print(f"\rstep {step}/{total}  loss {loss:.4f}", end="", file=sys.stderr)

    result = pretrain(
        args.inputs,
        out,
        preset=args.preset,
        settings=settings,
        voxel_size=args.voxel_size,
        mask_ratio=args.mask_ratio,
        mask_block=args.mask_block,
        objectives=args.objectives,
        captions=args.captions,
        sharding=args.sharding,
        held_out=args.held_out,
        resume=args.resume,
        progress=progress,
    )
    if not main_process:
        return 0
    summary = {
        "command": "pretrain",
        "output": str(out),
        "preset": args.preset,
        "objectives": list(check_objectives(args.objectives, args.captions)),
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "steps": result.steps,
        "first_loss": result.losses[0][1] if result.losses else None,
        "final_loss": result.losses[-1][1] if result.losses else None,
        "seconds": round(result.seconds, 2),
        "held_out": result.held_out or None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"\n{out}: {result.steps} steps, loss {summary['first_loss']} -> {summary['final_loss']}")
        if result.held_out:
            print(f"held-out loss {result.held_out[0][1]} -> {result.held_out[-1][1]}")
    return 0
