"""What this machine has: GPUs (NVML, then torch.cuda, then nvidia-smi), CPU, RAM, disk, Python and torch.

Cheap and safe to call from the CLI or the TUI: torch is only consulted when it is already imported or when
an NVIDIA driver is present but NVML did not answer; its version is read from package metadata otherwise.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

GIB = 1024**3
SMI_FIELDS = "index,name,memory.total,memory.free,driver_version,utilization.gpu,compute_cap"


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _cuda_version_from_int(v: int) -> str:
    """NVML's 12040 -> '12.4'."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def gpus_from_nvml(nvml: Any = None) -> list[dict]:
    """GPUs through NVML (nvidia-ml-py's `pynvml`, or an object with the same functions). Raises if NVML is
    unusable (no driver, no library)."""
    if nvml is None:
        import pynvml as nvml  # nvidia-ml-py
    nvml.nvmlInit()
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except Exception:  # noqa: BLE001 - every NVML query is optional but the count
            driver = None
        try:
            cuda = _cuda_version_from_int(int(nvml.nvmlSystemGetCudaDriverVersion()))
        except Exception:  # noqa: BLE001
            cuda = None
        out = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            g: dict[str, Any] = {"index": i, "name": _text(nvml.nvmlDeviceGetName(h)), "driver_version": driver,
                                 "cuda_version": cuda}
            try:
                mem = nvml.nvmlDeviceGetMemoryInfo(h)
                g["vram_total_gb"] = round(mem.total / GIB, 2)
                g["vram_free_gb"] = round(mem.free / GIB, 2)
            except Exception:  # noqa: BLE001
                g["vram_total_gb"] = g["vram_free_gb"] = None
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(h)
                g["compute_capability"] = f"{major}.{minor}"
            except Exception:  # noqa: BLE001
                g["compute_capability"] = None
            try:
                g["utilization_pct"] = int(nvml.nvmlDeviceGetUtilizationRates(h).gpu)
            except Exception:  # noqa: BLE001
                g["utilization_pct"] = None
            out.append(g)
        return out
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def gpus_from_torch(torch_module: Any = None) -> list[dict]:
    torch = torch_module or sys.modules.get("torch")
    if torch is None:
        import torch
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        try:
            free, total = torch.cuda.mem_get_info(i)
        except Exception:  # noqa: BLE001
            free, total = None, p.total_memory
        out.append({"index": i, "name": p.name, "vram_total_gb": round(total / GIB, 2),
                    "vram_free_gb": None if free is None else round(free / GIB, 2),
                    "driver_version": None, "cuda_version": getattr(torch.version, "cuda", None),
                    "compute_capability": f"{p.major}.{p.minor}", "utilization_pct": None})
    return out


def parse_nvidia_smi_csv(text: str, cuda_version: str | None = None) -> list[dict]:
    """Rows of `nvidia-smi --query-gpu=SMI_FIELDS --format=csv,noheader,nounits` (compute_cap optional)."""
    out = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 6 or not cells[0].isdigit():
            continue

        def num(s: str) -> float | None:
            try:
                return float(s)
            except ValueError:
                return None  # "[N/A]", "[Not Supported]"

        total, free, util = num(cells[2]), num(cells[3]), num(cells[5])
        out.append({"index": int(cells[0]), "name": cells[1],
                    "vram_total_gb": None if total is None else round(total / 1024, 2),  # MiB
                    "vram_free_gb": None if free is None else round(free / 1024, 2),
                    "driver_version": cells[4] or None, "cuda_version": cuda_version,
                    "compute_capability": cells[6] if len(cells) > 6 and cells[6][:1].isdigit() else None,
                    "utilization_pct": None if util is None else int(util)})
    return out


def parse_cuda_version(smi_banner: str) -> str | None:
    """'CUDA Version: 12.4' in plain `nvidia-smi` output."""
    import re

    m = re.search(r"CUDA Version:\s*([0-9.]+)", smi_banner)
    return m.group(1) if m else None


def gpus_from_nvidia_smi(exe: str | None = None, timeout: float = 10) -> list[dict]:
    exe = exe or shutil.which("nvidia-smi")
    if not exe:
        raise FileNotFoundError("nvidia-smi not found")
    fields = SMI_FIELDS
    res = subprocess.run([exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"], capture_output=True,
                         text=True, timeout=timeout)
    if res.returncode != 0:  # old drivers do not know compute_cap
        fields = fields.rsplit(",", 1)[0]
        res = subprocess.run([exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError((res.stderr or res.stdout).strip().splitlines()[0] if (res.stderr or res.stdout)
                               else f"nvidia-smi exited {res.returncode}")
    banner = subprocess.run([exe], capture_output=True, text=True, timeout=timeout).stdout
    return parse_nvidia_smi_csv(res.stdout, parse_cuda_version(banner))


def _nvidia_driver_present() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/version").exists()


def detect_gpus(*, nvml: Any = None, allow_torch: bool = True, smi_exe: str | None = None,
                diagnostics: list[str] | None = None) -> list[dict]:
    """GPUs with `source` set to how they were found: NVML first, then torch.cuda, then nvidia-smi."""
    diag = diagnostics if diagnostics is not None else []
    try:
        found = gpus_from_nvml(nvml)
        for g in found:
            g["source"] = "nvml"
        return found
    except Exception as e:  # noqa: BLE001
        diag.append(f"NVML: {type(e).__name__}: {e}".strip().rstrip(":"))
    if allow_torch and ("torch" in sys.modules or _nvidia_driver_present()):
        try:
            found = gpus_from_torch()
            if found:
                for g in found:
                    g["source"] = "torch"
                return found
            diag.append("torch.cuda: no CUDA device")
        except Exception as e:  # noqa: BLE001
            diag.append(f"torch.cuda: {type(e).__name__}: {e}")
    try:
        found = gpus_from_nvidia_smi(smi_exe)
        for g in found:
            g["source"] = "nvidia-smi"
        return found
    except Exception as e:  # noqa: BLE001
        diag.append(f"nvidia-smi: {e}")
    return []


def _torch_version() -> str | None:
    mod = sys.modules.get("torch")
    if mod is not None:
        return getattr(mod, "__version__", None)
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # noqa: BLE001
        return None


def _disk_free(path: str | os.PathLike) -> tuple[str, float | None]:
    p = Path(path).expanduser().resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return str(p), round(shutil.disk_usage(p).free / GIB, 1)
    except OSError:
        return str(p), None


def detect(path: str | os.PathLike = "runs", *, nvml: Any = None, allow_torch: bool = True,
           smi_exe: str | None = None, price_per_hour: float | None = None) -> dict:
    """The hardware report: GPUs (each matched to the catalog with its hourly price), CPU, RAM, disk, versions."""
    from ftwizard.catalog import match_gpu
    from ftwizard.pricing import gpu_price, user_price

    diag: list[str] = []
    gpus = detect_gpus(nvml=nvml, allow_torch=allow_torch, smi_exe=smi_exe, diagnostics=diag)
    for g in gpus:
        cat = match_gpu(g.get("name", ""), g.get("vram_total_gb"))
        g["catalog"] = cat.name if cat else None
        if cat:
            price = gpu_price(cat, flag=price_per_hour)
            g.update(bf16_tflops=cat.bf16_tflops, mem_bandwidth_gbs=cat.mem_bandwidth_gbs,
                     **{k: price[k] for k in ("price_per_hour", "price_source", "price_date")})
        else:
            price = user_price(price_per_hour)
            g.update(**{k: price[k] for k in ("price_per_hour", "price_source", "price_date")})
    try:
        import psutil

        vm = psutil.virtual_memory()
        ram_gb, ram_free = round(vm.total / GIB, 1), round(vm.available / GIB, 1)
        cores = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001
        ram_gb = ram_free = None
        cores = None
    disk_path, disk_free = _disk_free(path)
    return {
        "gpus": gpus,
        "gpu_count": len(gpus),
        "gpu_source": gpus[0]["source"] if gpus else None,
        "mode": "gpu" if gpus else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": cores,
        "cpu_threads": os.cpu_count(),
        "ram_gb": ram_gb,
        "ram_available_gb": ram_free,
        "disk_path": disk_path,
        "disk_free_gb": disk_free,
        "python": platform.python_version(),
        "torch": _torch_version(),
        "platform": platform.platform(),
        "diagnostics": diag,
    }
