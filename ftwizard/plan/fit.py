"""Does a run fit its device: the one headroom rule that the estimate, the own-data model choice, the wizard and
the verdict's next run all apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftwizard.catalog import GPU

# Of a card's nominal memory, what a run can use: ECC and the driver's reserve take the rest (an A40 shows
# 46,068 MiB of its 48 GiB). Memory nvidia-smi reports is already net of these and is used whole.
USABLE_VRAM = 0.94
# Of a machine's RAM, what a CPU run can use: the OS, the Python process and page cache keep the rest.
USABLE_RAM = 0.8


@dataclass(frozen=True)
class Fit:
    need_gb: float        # the estimate's peak memory
    device_gb: float      # the card's memory (detected, else the catalog's), or the machine's RAM
    usable_gb: float      # what a run may fill
    detected: bool        # device_gb was measured on this machine

    @property
    def fits(self) -> bool:
        return self.need_gb <= self.usable_gb

    @property
    def spare_gb(self) -> float:
        return self.usable_gb - self.need_gb


def fit_on(gpu: "GPU", need_gb: float, *, detected_gb: float | None = None) -> Fit:
    """`need_gb` against `gpu`: a CPU may use USABLE_RAM of its memory, a GPU USABLE_VRAM of the catalog's nominal
    memory, or all of the memory detected on this machine (already net of the reserve)."""
    if gpu.is_cpu:
        device = detected_gb or gpu.vram_gb
        return Fit(need_gb, device, device * USABLE_RAM, detected_gb is not None)
    if detected_gb:
        return Fit(need_gb, detected_gb, detected_gb, True)
    return Fit(need_gb, gpu.vram_gb, gpu.vram_gb * USABLE_VRAM, False)
