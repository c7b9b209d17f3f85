"""GPU acceptance for local training: one command, under 10 minutes on one NVIDIA GPU, one JSON file of results.

    python benchmarks/bench_gpu.py [--model ID_OR_FOLDER | --random llama-3.1-8b] [--out results.json]
    python benchmarks/bench_gpu.py --tiny          # the whole script on the CPU with a tiny model (tests)

Everything trains through ftwizard's real worker (a run directory per case) and reads what the run records
(train_summary.json, events), so the figures are the product's own:

1. one 8-bit and one 4-bit LoRA step with gradient checkpointing: peak memory (reserved + CUDA context, GiB)
   next to the estimator's figure for the same recipe (target: within 10%);
2. tokens/s and MFU in bf16 without and with padding-free packing, without and with Liger kernels (when
   liger-kernel is installed) - target 35% MFU or more for 8B with packing and Liger on an H100/H200;
3. evaluation speed: vLLM (base + LoRARequest) vs HF generate on the same prompts, greedy (when vLLM is
   installed) - target 5x;
4. with two GPUs or more: a 2-process FSDP run that saves its adapter.

The model: a hub id or a local folder (`--model`), or offline `--random NAME` (default llama-3.1-8b): a model of
the catalog's real shape with random weights, written once to a folder (a tokenizer trained here; speed and
memory do not depend on the weights). Exit status 0 when every case that could run passed, 1 when one failed,
2 on bad arguments or (without --tiny) no CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TEMPLATE = '''name = "bench-{case}"
task = "viggo"
backend = "local"
[data]
limit_train = {limit_train}
limit_eval = {limit_eval}
[prompt]
template = """
Sentence: {{target}}
Meaning representation: {{meaning_representation}}
"""
answer_field = "meaning_representation"
[model]
base = "{base}"
catalog_id = "{catalog_id}"
quant = "{quant}"
dtype = "{dtype}"
[lora]
r = 16
alpha = 32
dropout = 0.0
target_modules = ["all-linear"]
[train]
max_length = {max_length}
micro_batch_size = {micro_batch}
grad_accum = 1
max_steps = {steps}
warmup_steps = 0
lr = 1e-4
logging_steps = 1
eval_every = 0
save_every = 0
group_by_length = false
packing = {packing}
gradient_checkpointing = {gc}
use_liger = {liger}
fsdp = {fsdp}
[hardware]
device = "{device}"
nproc = {nproc}
[eval]
enabled = false
'''


def random_model(name: str, folder: Path, *, tiny: bool) -> tuple[Path, str]:
    """A model folder of the catalog shape `name` (random weights, bf16) and a tokenizer trained here."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ftwizard.catalog import get_open_model
    from tests.tinymodel import make_tokenizer

    if (folder / "config.json").exists():
        return folder, name
    om = get_open_model(name, allow_hub=False)
    tok = make_tokenizer(512 if tiny else 4096)
    if tiny:
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)
    else:
        cfg = LlamaConfig(vocab_size=om.vocab, hidden_size=om.hidden, intermediate_size=om.intermediate,
                          num_hidden_layers=om.layers, num_attention_heads=om.heads, num_key_value_heads=om.kv_heads,
                          max_position_embeddings=8192, tie_word_embeddings=om.tied, rope_theta=500000.0)
    cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    with torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu"):
        model = LlamaForCausalLM(cfg).to(torch.float32 if tiny else torch.bfloat16)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    del model
    return folder, name


def run_case(case: str, runs: Path, fields: dict, *, timeout: float) -> dict:
    """Train one case through the real worker; its summary, or the failure."""
    from ftwizard.backends.local import worker_command
    from ftwizard.recipe import parse_recipe
    from ftwizard.rundir import RunDirectory

    text = TEMPLATE.format(case=case, **fields)
    recipe = parse_recipe(text, source=f"case {case}")
    run = RunDirectory.create(runs, recipe.name, text)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    if fields["device"] == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    t0 = time.time()
    with open(run.path / "worker.log", "wb") as log:
        try:
            p = subprocess.run(worker_command(run, fields["nproc"]), stdout=log, stderr=subprocess.STDOUT, env=env,
                               timeout=timeout)
            code = p.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    out: dict = {"case": case, "run_dir": str(run.path), "process_s": round(time.time() - t0, 1)}
    if code != 0 or run.state != "succeeded":
        errors = [e.get("message", "") for e in run.events(("error",))]
        return {**out, "ok": False, "error": errors[-1] if errors else f"exit {code}; see {run.path / 'worker.log'}"}
    s = json.loads((run.path / "train_summary.json").read_text())
    est = (s.get("estimate") or {}).get("vram_gb")
    peak = s.get("peak_mem_gib")
    probe = s.get("memory_probe") or {}
    out.update(ok=True, steps=s["steps"], train_tokens_per_s=s.get("train_tokens_per_s"), mfu=s.get("mfu"),
               peak_mem_gib=peak, peak_mem_kind=s.get("peak_mem_kind"), estimate_vram_gib=est,
               peak_vs_estimate=round(peak / est, 3) if peak and est else None,
               probe_gib=probe.get("measured_gib"), probe_s=probe.get("seconds"), speed=s.get("speed"),
               gradient_checkpointing=s.get("gradient_checkpointing"), packing=s.get("packing"))
    if fields.get("fsdp") == "true":
        out["adapter_saved"] = (run.adapter_dir / "adapter_model.safetensors").exists()
        out["ok"] = out["adapter_saved"]
    return out


def generation_speed(base: str, adapter_dir: str, *, n_prompts: int, max_new_tokens: int, vllm: bool) -> dict:
    """HF generate vs vLLM on the same prompts, greedy, base + the adapter of a finished case."""
    from ftwizard.backends.local.modeling import load_for_inference
    from ftwizard.evaluation.generate import generate
    from ftwizard.recipe import parse_recipe
    from ftwizard.tasks import get_task

    run_recipe = parse_recipe((Path(adapter_dir).parent / "recipe.toml").read_text())
    task = get_task("viggo")
    templates = task.templates(run_recipe)
    rows = task.load_split(run_recipe.with_updates({"data.limit_eval": n_prompts}), "eval").rows
    prompts = [templates.render_prompt(r) for r in rows]
    out: dict = {"prompts": len(prompts), "max_new_tokens": max_new_tokens}
    model, tok = load_for_inference(run_recipe, Path(adapter_dir))
    t0 = time.perf_counter()
    gens = generate(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=16)
    hf_s = time.perf_counter() - t0
    out["hf"] = {"s": round(hf_s, 2), "tokens_per_s": round(sum(g.completion_tokens for g in gens) / hf_s, 1)}
    del model
    if vllm:
        import torch

        from ftwizard.evaluation.vllm_generate import generate_vllm

        torch.cuda.empty_cache()
        t0 = time.perf_counter()
        vg = generate_vllm(run_recipe, Path(adapter_dir), tok, prompts, max_new_tokens=max_new_tokens)
        v_s = time.perf_counter() - t0  # includes vLLM's engine start: the time a user waits
        out["vllm"] = {"s": round(v_s, 2), "tokens_per_s": round(sum(g.completion_tokens for g in vg) / v_s, 1)}
        out["speedup"] = round(hf_s / v_s, 2)
        out["same_predictions"] = sum(a.text == b.text for a, b in zip(gens, vg))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a hub id or a model folder (default: --random)")
    ap.add_argument("--random", default="llama-3.1-8b", help="catalog shape for a random-weight model (offline)")
    ap.add_argument("--workdir", default=None, help="where the random model and the runs go (default: a temp dir)")
    ap.add_argument("--out", default="bench_gpu_results.json")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per speed case (the first is warm-up)")
    ap.add_argument("--tiny", action="store_true", help="the whole script on the CPU with a tiny model (tests)")
    a = ap.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not a.tiny:
        print("no CUDA GPU here: run this on a GPU machine (or --tiny for a CPU dry run)", file=sys.stderr)
        return 2
    work = Path(a.workdir or tempfile.mkdtemp(prefix="ftw-bench-gpu-"))
    runs = work / "runs"
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tiny": a.tiny,
                     "gpu": torch.cuda.get_device_name(0) if cuda else "cpu",
                     "gpu_count": torch.cuda.device_count() if cuda else 0, "cases": [], "skipped": []}
    if a.model:
        base, catalog_id = a.model, a.model
    else:
        base, catalog_id = random_model(a.random, work / ("tiny-model" if a.tiny else "random-model"), tiny=a.tiny)
        base = str(base)
        results["model_note"] = f"random weights, {a.random} shape" + (" (tiny stand-in)" if a.tiny else "")
    results["model"] = catalog_id
    device = "cuda" if cuda else "cpu"
    dtype = "bf16" if cuda else "fp32"
    common = dict(base=base, catalog_id=catalog_id if not a.tiny else "", device=device, nproc=1, fsdp="false",
                  limit_train=400, limit_eval=16, max_length=64 if a.tiny else 1024, micro_batch=2 if a.tiny else 8)
    timeout = 600 if a.tiny else 900
    liger = find_spec("liger_kernel") is not None and cuda
    vllm = find_spec("vllm") is not None and cuda
    steps = 2 if a.tiny else a.steps

    def case(name: str, **fields) -> dict:
        r = run_case(name, runs, {**common, **fields}, timeout=timeout)
        results["cases"].append(r)
        print(json.dumps(r), flush=True)
        return r

    # 1. quantized, one step each, checkpointing on: peak vs estimate
    for quant in ("8bit", "4bit"):
        if not cuda or find_spec("bitsandbytes") is None:
            results["skipped"].append(f"{quant}: needs CUDA and bitsandbytes")
            continue
        case(f"{quant}-gc", quant=quant, dtype=dtype, packing="false", gc="true", liger="false", steps=1,
             micro_batch=4)
    # 2. bf16 speed: packing off/on, Liger off/on
    speed_cases = {}
    for packing in ("false", "true"):
        for lig in (("false", "true") if liger else ("false",)):
            name = f"{dtype}-packing-{'on' if packing == 'true' else 'off'}-liger-{'on' if lig == 'true' else 'off'}"
            speed_cases[name] = case(name, quant="none", dtype=dtype, packing=packing, gc="false", liger=lig,
                                     steps=steps)
    if not liger:
        results["skipped"].append("Liger: needs CUDA and liger-kernel (pip install 'ftwizard[fast]')")
    # 3. generation: vLLM vs HF on the same prompts
    first = next((c for c in speed_cases.values() if c.get("ok")), None)
    if first is not None:
        try:
            results["generation"] = generation_speed(base, str(Path(first["run_dir"]) / "adapter"),
                                                     n_prompts=8 if a.tiny else 64,
                                                     max_new_tokens=8 if a.tiny else 64, vllm=vllm)
        except Exception as e:  # noqa: BLE001 - a benchmark step that fails is recorded and fails the script
            results["generation"] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if not vllm:
        results["skipped"].append("vLLM: needs CUDA and vllm (pip install 'ftwizard[serve]')")
    # 4. FSDP with two GPUs
    if cuda and torch.cuda.device_count() >= 2:
        case("fsdp-2gpu", quant="none", dtype=dtype, packing="true", gc="true", liger="false", steps=2, nproc=2,
             fsdp="true")
    else:
        results["skipped"].append("FSDP: needs two GPUs")
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    failed = [c["case"] for c in results["cases"] if not c.get("ok")]
    if results.get("generation", {}).get("ok") is False:
        failed.append("generation")
    results["failed"] = failed
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {a.out}" + (f"; failed: {', '.join(failed)}" if failed else "; every case passed"),
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
