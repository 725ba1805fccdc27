"""One bf16 training step of a preset sharded by FSDP2 over gloo processes on the CPU: memory per rank.

    python benchmarks/fsdp_step.py --json OUT.json [--preset full-4b] [--processes 2] [--threads 1]

Each process builds the model on the meta device in bfloat16, shards it with
``training/sharding.py`` (``fsdp``: every block, then the rest) and only then allocates its
own shards (``to_empty``), so no process ever holds the whole model. The shards are filled
with seeded random weights (normal, scaled by the fan-in) and put on the hypersphere: not
the model's own initializer, which fills whole tensors, but the same shapes, dtype and
arithmetic, which is what memory and time depend on. Then one training step as ``bright4b
pretrain`` takes it: a forward pass over one brick-sized input
(the smallest the model takes), the reconstruction error plus the Soft-MoE balancing loss,
backward (FSDP reduce-scatters the gradients), gradient clipping, the trainer's optimizer
(``--optimizer``: AdamW, its two moments bf16 like the weights, or the factored optimizer, its second
moment factored into row and column means) and renormalization onto the hypersphere. Per rank it reports the bytes of
its weight shard, the resident memory after sharding and the peak during the step (Linux
``VmHWM``, reset after sharding through ``/proc/self/clear_refs``), and seconds per phase
(Linux only).
(``bright4b pretrain --sharding fsdp`` itself still builds the whole float32 model on each
process before sharding it; see docs/training.md.)
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _common import environment, write_json

GIB = 2**30


def _status_gib(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in GiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / GIB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


@torch.no_grad()
def _fill_shards(model: torch.nn.Module, seed: int) -> None:
    """Each local shard normal with std ``fan_in ** -0.5``; the scalars, whole on every
    process, 0.1 everywhere."""
    generator = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        if param.ndim == 0:
            param.fill_(0.1)
            continue
        local = param.to_local() if hasattr(param, "to_local") else param
        local.copy_(torch.randn(local.shape, generator=generator) * param.shape[-1] ** -0.5)


def _rank(rank: int, world: int, port: int, preset: str, threads: int, optimizer_name: str, results) -> None:
    from napari_bright4b.models.card import ModelCard
    from napari_bright4b.models.checkpoint import build_model
    from napari_bright4b.models.presets import PRESETS
    from napari_bright4b.nn.hypersphere import renormalize_
    from napari_bright4b.training.sharding import distribute
    from napari_bright4b.training.trainer import TrainSettings, make_optimizer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    seconds = {}
    start = time.perf_counter()
    card = ModelCard(name=preset, config=PRESETS[preset].config, head=PRESETS[preset].head)
    model = distribute(build_model(card, "meta", torch.bfloat16), "fsdp")
    model.to_empty(device="cpu")
    _fill_shards(model, seed=rank)
    renormalize_(model)
    seconds["build_and_shard"] = time.perf_counter() - start
    shard_bytes = sum(p.to_local().nbytes if hasattr(p, "to_local") else p.nbytes for p in model.parameters())
    sharded_rss = _status_gib("VmRSS")
    _reset_peak()
    optimizer = make_optimizer(list(model.parameters()), TrainSettings(learning_rate=1e-4, optimizer=optimizer_name))
    image = torch.rand(1, card.config.in_channels, *card.config.spatial_multiple, dtype=torch.bfloat16)
    start = time.perf_counter()
    model.train()
    loss = (model(image).float() - image.float()).pow(2).mean() + model.balance_loss()
    seconds["forward"] = time.perf_counter() - start
    start = time.perf_counter()
    loss.backward()
    seconds["backward"] = time.perf_counter() - start
    start = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    renormalize_(model)
    seconds["update"] = time.perf_counter() - start
    results[rank] = {
        "weight_shard_gib": round(shard_bytes / GIB, 3),
        "rss_after_sharding_gib": round(sharded_rss, 3),
        "step_peak_gib": round(_status_gib("VmHWM"), 3),
        "loss": round(loss.item(), 5),
        "finite": bool(torch.isfinite(loss).item()),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--preset", default="full-4b")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per process (1)")
    parser.add_argument("--optimizer", choices=["adamw", "factored"], default="factored", help="(factored)")
    args = parser.parse_args()
    from napari_bright4b.models.config import total_parameters
    from napari_bright4b.models.presets import PRESETS

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(
        _rank, args=(args.processes, port, args.preset, args.threads, args.optimizer, results), nprocs=args.processes
    )
    ranks = [results[r] for r in range(args.processes)]
    print(f"{args.preset}, bf16, FSDP2 over {args.processes} gloo processes, one {args.optimizer} training step")
    print(f"{'rank':<5}{'shard GiB':>10}{'after shard':>13}{'step peak':>11}{'seconds f/b/u':>16}")
    for rank, r in enumerate(ranks):
        s = r["seconds"]
        timing = f"{s['forward']:.0f}/{s['backward']:.0f}/{s['update']:.0f}"
        row = f"{r['weight_shard_gib']:>10.2f}{r['rss_after_sharding_gib']:>13.2f}"
        print(f"{rank:<5}{row}{r['step_peak_gib']:>11.2f}{timing:>16}")
    parameters = total_parameters(PRESETS[args.preset].config, PRESETS[args.preset].head)
    write_json(
        args.json,
        {
            "preset": args.preset,
            "parameters": parameters,
            "whole_model_bf16_gib": round(2 * parameters / GIB, 3),
            "processes": args.processes,
            "optimizer": args.optimizer,
            "ranks": ranks,
            "environment": environment(args.threads),
        },
    )


if __name__ == "__main__":
    main()
