"""benchmarks/bench_gpu.py end to end on the CPU (--tiny): every case it can run here passes, the rest are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_acceptance_script_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--tiny", "--out", str(out),
                        "--workdir", str(tmp_path / "work")], capture_output=True, text=True, timeout=1500,
                       env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["failed"] == [] and r["gpu"] == "cpu"
    cases = {c["case"]: c for c in r["cases"]}
    # every GPU code path runs here too: quantized, 32-bit speed, compile, FSDP2 (16-bit and QLoRA), two nodes
    assert set(cases) == {"8bit-gc", "4bit-gc", "fp32-packing-off-liger-off", "fp32-packing-on-liger-off",
                          "fp32-compile", "fsdp2", "fsdp2-qlora-4bit", "two-nodes"}
    for c in cases.values():
        assert c["ok"] and c["train_tokens_per_s"] > 0 and c["mfu"] > 0 and c["peak_mem_gib"] > 0, c
        assert c["estimate_vram_gib"] > 0 and c["estimate_tokens_per_s"] > 0 and c["estimate_mfu"] > 0
    for name in ("8bit-gc", "4bit-gc", "fp32-packing-off-liger-off"):
        assert cases[name]["probe_s"] > 0
    assert cases["8bit-gc"]["quantized_layers"]["Linear8bitLt"] > 0
    assert cases["fp32-packing-on-liger-off"]["packing"] is True
    assert cases["fp32-compile"]["max_loss_gap_vs_eager"] <= 2e-3 and cases["fp32-compile"]["first_step_s"] > 0
    assert cases["fsdp2"]["speed"]["fsdp_sharded_params"] is True and cases["fsdp2-qlora-4bit"]["adapter_saved"]
    assert cases["two-nodes"]["world_size"] == 2
    assert r["generation"]["hf"]["tokens_per_s"] > 0 and "vllm" not in r["generation"]
    assert any(s.startswith("Liger:") for s in r["skipped"]) and any(s.startswith("vLLM:") for s in r["skipped"])
