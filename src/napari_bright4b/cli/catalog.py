"""``bright4b models`` and ``bright4b info``: which models there are and what is inside them."""

from __future__ import annotations

import argparse
import json

from ..models.config import MAX_GAIN, total_parameters
from ..models.presets import PRESETS
from ..models.registry import ModelEntry, list_models, resolve, user_models_dir


def _describe(entry: ModelEntry) -> dict:
    if entry.is_preset:
        preset = PRESETS[entry.name]
        config, head = preset.config, preset.head
        described = {"name": entry.name, "source": "preset", "summary": preset.summary}
        described.update(config=config.to_dict(), head=head.to_dict())
    else:
        config, head = entry.card.config, entry.card.head
        described = {**entry.card.to_dict(), "card_name": entry.card.name}
        described.update(name=entry.name, source=entry.source, path=str(entry.path))
    components = config.parameter_counts()
    components["head"] = head.parameter_count(config)
    described["components"] = components
    described["params"] = total_parameters(config, head)
    return described


def _human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def cmd_models(args: argparse.Namespace) -> int:
    entries = list_models()
    if args.json:
        rows = [
            {
                "name": e.name,
                "source": e.source,
                "path": str(e.path),
                "task": e.card.head.task if e.card else None,
                "error": e.error,
            }
            for e in entries
        ]
        print(json.dumps({"models": rows, "presets": list(PRESETS), "user_dir": str(user_models_dir())}, indent=2))
        return 0
    if not entries:
        print("no checkpoints found")
    for e in entries:
        what = f"ERROR: {e.error}" if e.error else f"{e.card.head.task} {list(e.card.head.class_names)}"
        print(f"{e.name:32s} {e.source:8s} {what}")
    print(f"presets (random weights): {', '.join(PRESETS)}")
    print(f"user model folder: {user_models_dir()}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = _describe(resolve(args.model))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']} ({info['source']})")
    if "summary" in info:
        print(f"  {info['summary']}")
    for key in ("task", "modality", "voxel_size", "tile", "views"):
        value = info.get(key, info["head"].get(key))
        if value is not None:
            print(f"  {key:12s} {value}")
    print(f"  classes      {info['head']['class_names']}")
    if info.get("thresholds"):
        print(f"  thresholds   {info['thresholds']} (bright4b segment's default cuts)")
    if info.get("deconvolution"):
        settings = info["deconvolution"]
        print(
            f"  refines      Richardson-Lucy, {settings['iterations']} iterations, tv {settings['tv']:g} (give --psf)"
        )
    if info["head"].get("correction") == "multiplicative":
        print(f"  corrects     by a factor within 1/{MAX_GAIN:g}-{MAX_GAIN:g} above the black level (dark stays dark)")
    print("  parameters:")
    for name, count in info["components"].items():
        print(f"    {name:20s} {count:>15,d}  ({_human(count)})")
    print(f"    {'total':20s} {info['params']:>15,d}  ({_human(info['params'])})")
    return 0


def add_parsers(sub) -> None:
    models = sub.add_parser("models", help="list bundled and user models")
    models.add_argument("--json", action="store_true", help="print machine-readable JSON")
    models.set_defaults(run=cmd_models)
    info = sub.add_parser("info", help="show a model card and parameter counts")
    info.add_argument("model", help="registry name, .safetensors path or preset (nano, small, base, full-4b)")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(run=cmd_info)
