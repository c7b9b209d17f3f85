"""benchmarks/bench_gpu.py end to end on the CPU (--tiny): every case it can run here passes, the rest are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_gpu_acceptance_script_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--tiny", "--out", str(out),
                        "--workdir", str(tmp_path / "work")], capture_output=True, text=True, timeout=600,
                       env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["failed"] == [] and r["gpu"] == "cpu"
    cases = {c["case"]: c for c in r["cases"]}
    assert set(cases) == {"fp32-packing-off-liger-off", "fp32-packing-on-liger-off"}
    for c in cases.values():
        assert c["ok"] and c["train_tokens_per_s"] > 0 and c["mfu"] > 0 and c["peak_mem_gib"] > 0
        assert c["estimate_vram_gib"] > 0 and c["probe_s"] > 0
    assert cases["fp32-packing-on-liger-off"]["packing"] is True
    assert r["generation"]["hf"]["tokens_per_s"] > 0 and "vllm" not in r["generation"]
    assert any(s.startswith("8bit:") for s in r["skipped"]) and any(s.startswith("FSDP:") for s in r["skipped"])
