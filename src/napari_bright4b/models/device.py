"""Pick the device to run on: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

An unavailable device falls back (a missing GPU to the CPU, a missing ``cuda:N`` to
``cuda:0``) and the fallback is reported, never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..errors import BadInputError

_SPEC = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class DeviceChoice:
    """The device to use and, if it is not what was asked for, why (``note``)."""

    device: torch.device
    note: str | None = None


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def available_devices() -> list[str]:
    """Every device this machine can run on, best first, e.g. ``["cuda:0", "cpu"]``."""
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return devices + (["mps"] if _mps_available() else []) + ["cpu"]


def resolve_device(spec: str = "auto") -> DeviceChoice:
    if not isinstance(spec, str) or not _SPEC.match(spec.strip().lower()):
        raise BadInputError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    spec = spec.strip().lower()
    if spec == "auto":
        return DeviceChoice(torch.device(available_devices()[0]))
    if spec == "cpu":
        return DeviceChoice(torch.device("cpu"))
    if spec == "mps":
        if _mps_available():
            return DeviceChoice(torch.device("mps"))
        return DeviceChoice(torch.device("cpu"), "MPS (Apple GPU) is not available here; running on the CPU")
    if not torch.cuda.is_available():
        return DeviceChoice(torch.device("cpu"), f"{spec}: CUDA is not available here; running on the CPU")
    index = int(spec.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        return DeviceChoice(torch.device("cuda:0"), f"{spec} does not exist ({count} CUDA device(s)); using cuda:0")
    return DeviceChoice(torch.device(f"cuda:{index}"))
