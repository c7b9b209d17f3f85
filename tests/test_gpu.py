"""Hardware detection: a fake NVML, recorded nvidia-smi output through a real subprocess, and this GPU-less box."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ftwizard.hardware import (detect, detect_gpus, gpus_from_nvidia_smi, gpus_from_nvml, parse_cuda_version,
                               parse_nvidia_smi_csv)

REPO = Path(__file__).resolve().parent.parent
GIB = 1024**3

# Recorded on an A100 80GB box (nvidia-smi 535.104.05): the query the code runs, and the banner.
SMI_CSV = """0, NVIDIA A100-SXM4-80GB, 81920, 80493, 535.104.05, 0, 8.0
1, NVIDIA A100-SXM4-80GB, 81920, 1024, 535.104.05, 97, 8.0
"""
SMI_BANNER = """Mon Nov 24 10:00:00 2026
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
"""


class FakeNVML:
    """The pynvml functions ftwizard calls, answering like a two-GPU host (an A40 and an unknown card)."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: bool = False):
        self.fail_init = fail_init
        self.shutdown = False
        self.cards = [("NVIDIA A40", 48 * GIB, 40 * GIB, (8, 6), 12),
                      (b"NVIDIA Mystery X1", 32 * GIB, 32 * GIB, (9, 9), 0)]

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetCount(self):
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.cards[h][0]

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(total=self.cards[h][1], free=self.cards[h][2], used=self.cards[h][1] - self.cards[h][2])

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return self.cards[h][3]

    def nvmlDeviceGetUtilizationRates(self, h):
        if h == 1:
            raise self.NVMLError("Not Supported")
        return SimpleNamespace(gpu=self.cards[h][4], memory=3)


def test_nvml_path_with_a_fake_nvml(monkeypatch):
    monkeypatch.delenv("FTWIZARD_PRICE_PER_HOUR", raising=False)
    nvml = FakeNVML()
    gpus = gpus_from_nvml(nvml)
    assert nvml.shutdown
    assert gpus[0] == {"index": 0, "name": "NVIDIA A40", "driver_version": "550.54.15", "cuda_version": "12.4",
                       "vram_total_gb": 48.0, "vram_free_gb": 40.0, "compute_capability": "8.6",
                       "utilization_pct": 12}
    assert gpus[1]["name"] == "NVIDIA Mystery X1" and gpus[1]["utilization_pct"] is None
    info = detect(REPO, nvml=nvml)
    assert info["mode"] == "gpu" and info["gpu_source"] == "nvml" and info["gpu_count"] == 2
    a40, other = info["gpus"]
    assert a40["catalog"] == "A40" and a40["price_per_hour"] == 0.475 and a40["price_date"]
    assert other["catalog"] is None and other["price_per_hour"] is None
    assert "--price-per-hour" in other["price_source"]
    priced = detect(REPO, nvml=nvml, price_per_hour=0.39)
    assert priced["gpus"][0]["price_per_hour"] == 0.39 and priced["gpus"][1]["price_per_hour"] == 0.39
    monkeypatch.setenv("FTWIZARD_PRICE_PER_HOUR", "0.5")
    assert detect(REPO, nvml=nvml)["gpus"][0]["price_per_hour"] == 0.5


def _fake_smi(tmp_path: Path) -> Path:
    (tmp_path / "csv.txt").write_text(SMI_CSV)
    (tmp_path / "banner.txt").write_text(SMI_BANNER)
    exe = tmp_path / "nvidia-smi"
    exe.write_text(f"""#!/bin/sh
case "$1" in
  --query-gpu=*) cat {tmp_path}/csv.txt ;;
  *) cat {tmp_path}/banner.txt ;;
esac
""")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_nvidia_smi_parsing_of_recorded_output(tmp_path):
    rows = parse_nvidia_smi_csv(SMI_CSV, parse_cuda_version(SMI_BANNER))
    assert [r["name"] for r in rows] == ["NVIDIA A100-SXM4-80GB"] * 2
    assert rows[0]["vram_total_gb"] == 80.0 and rows[1]["vram_free_gb"] == 1.0 and rows[1]["utilization_pct"] == 97
    assert rows[0]["cuda_version"] == "12.2" and rows[0]["compute_capability"] == "8.0"
    assert parse_nvidia_smi_csv("0, Tesla T4, 15360, [N/A], 470.1, [Not Supported]")[0]["vram_free_gb"] is None
    # through a real subprocess, when NVML is missing
    gpus = detect_gpus(nvml=FakeNVML(fail_init=True), allow_torch=False, smi_exe=str(_fake_smi(tmp_path)))
    assert len(gpus) == 2 and gpus[0]["source"] == "nvidia-smi"
    assert gpus_from_nvidia_smi(str(_fake_smi(tmp_path)))[0]["driver_version"] == "535.104.05"
    info = detect(tmp_path, nvml=FakeNVML(fail_init=True), allow_torch=False, smi_exe=str(_fake_smi(tmp_path)))
    assert info["gpus"][0]["catalog"] == "A100-80GB"


def test_this_gpu_less_machine_is_cpu_mode(tmp_path):
    diag: list[str] = []
    info = detect(tmp_path / "not" / "yet", nvml=FakeNVML(fail_init=True), allow_torch=False,
                  smi_exe=str(tmp_path / "no-such-nvidia-smi"))
    assert info["gpus"] == [] and info["mode"] == "cpu"
    assert info["cpu_threads"] >= 1 and info["ram_gb"] > 0 and info["disk_free_gb"] > 0
    assert Path(info["disk_path"]).exists()
    assert info["python"].count(".") == 2
    assert any("NVML" in d for d in info["diagnostics"])
    assert detect_gpus(nvml=FakeNVML(fail_init=True), allow_torch=False, smi_exe="/nonexistent",
                       diagnostics=diag) == [] and len(diag) == 2


def test_gpu_command(tmp_path):
    env = {**os.environ, "FTWIZARD_RUNS_DIR": str(tmp_path)}
    code = ("import sys; from ftwizard.cli.main import main; rc = main(['gpu', '--json']); "
            "print('TORCH', 'torch' in sys.modules, file=sys.stderr); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert {"gpus", "cpu_cores", "ram_gb", "disk_free_gb", "python", "torch"} <= set(info)
    assert info["disk_path"] == str(tmp_path)
    if not info["gpus"]:
        assert "TORCH False" in res.stderr  # no GPU: torch is never imported just to learn that
        table = subprocess.run([sys.executable, "-m", "ftwizard", "gpu"], capture_output=True, text=True, cwd=REPO,
                               env=env, timeout=60)
        assert table.returncode == 0 and "No NVIDIA GPU found" in table.stdout and "CPU mode" in table.stdout
    bad = subprocess.run([sys.executable, "-m", "ftwizard", "gpu", "--price-per-hour", "0"], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=60)
    assert bad.returncode == 2 and "must be > 0" in bad.stderr


@pytest.mark.skipif(not os.environ.get("FTWIZARD_REAL_NVML"), reason="set FTWIZARD_REAL_NVML=1 on a GPU box")
def test_real_nvml():
    gpus = gpus_from_nvml()
    assert gpus and gpus[0]["vram_total_gb"] > 0
