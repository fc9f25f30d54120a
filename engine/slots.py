"""Slots per device: how many runs may use the CPU and each GPU at once."""

from __future__ import annotations

from collections import Counter

from contract.runspec import DeviceKind
from engine.config import SlotConfig


class Slots:
    def __init__(self, config: SlotConfig, gpu_indices: list[int]) -> None:
        self.cpu_slots = config.cpu
        self.per_gpu = config.per_gpu
        self.gpu_indices = list(gpu_indices)
        self._used: Counter[str] = Counter()

    def has_gpus(self) -> bool:
        return bool(self.gpu_indices) and self.per_gpu > 0

    def acquire(self, device_kind: DeviceKind) -> str | None:
        """A free device ('cpu' or 'cuda:N'), or None when every slot of that kind is busy."""
        if device_kind == DeviceKind.CUDA:
            free = [i for i in self.gpu_indices if self._used[f"cuda:{i}"] < self.per_gpu]
            if not free:
                return None
            device = f"cuda:{min(free, key=lambda i: self._used[f'cuda:{i}'])}"
        else:
            if self._used["cpu"] >= self.cpu_slots:
                return None
            device = "cpu"
        self._used[device] += 1
        return device

    def take(self, device: str) -> None:
        """Count a run re-attached after a restart (it may exceed the slots for a while)."""
        self._used[device] += 1

    def release(self, device: str) -> None:
        if self._used[device] > 0:
            self._used[device] -= 1


def cuda_index(device: str) -> int | None:
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else None


def busy_text(slots: Slots, device_kind: DeviceKind) -> str:
    """Why a run of `device_kind` waits for a slot, in words with the counts."""
    if device_kind == DeviceKind.CUDA:
        used = sum(slots._used[f"cuda:{i}"] for i in slots.gpu_indices)
        total = slots.per_gpu * len(slots.gpu_indices)
        return f"no free GPU slot ({used} of {total} busy; [slots] per_gpu in config.toml)"
    return f"no free CPU slot ({slots._used['cpu']} of {slots.cpu_slots} busy; [slots] cpu in config.toml)"
