"""GPU acceptance for local training: the first thing to run on a machine with an NVIDIA GPU. One command, one
JSON file of results, every GPU code path of ftwizard exercised through its real worker:

    python benchmarks/bench_gpu.py [--model ID_OR_FOLDER | --random llama-3.1-8b] [--out results.json]
    python benchmarks/bench_gpu.py --tiny          # every path on the CPU with a tiny model (tests)

Each case is a run directory; the figures are what the run records (train_summary.json, events):

1. quantized bases, 8-bit and 4-bit with gradient checkpointing: peak memory (GPU: reserved + CUDA context; CPU:
   peak RSS) next to the estimator's figure for the same recipe (target on a GPU: within 10%);
2. tokens/s, MFU (PaLM convention: model FLOPs, no recomputation) and HFU in 16-bit, without and with
   padding-free packing, without and with Liger kernels (when liger-kernel is installed) - each beside the
   estimate's tokens/s and the MFU it implies; target 35% MFU or more for 8B with packing and Liger on an H100;
3. torch.compile: the same losses as eager and the time to the first step;
4. FSDP2 over 2 processes (2 GPUs, or 2 CPU processes with --tiny), 16-bit and 4-bit (QLoRA under FSDP): the
   parameters are DTensors and one adapter is saved;
5. two "nodes" on this machine (one process each, static rendezvous on 127.0.0.1; 2 GPUs on CUDA): the run ends
   with rank 0 of node 0 having written it;
6. evaluation speed: vLLM (base + LoRARequest) vs HF generate on the same prompts, greedy (when vLLM is
   installed) - target 5x.

A case that fails is recorded with its error and makes the script fail, loudly, naming it; the others still
run. The model: a hub id or a local folder (`--model`), or offline `--random NAME` (default llama-3.1-8b): a model
of the catalog's real shape with random weights, written once (speed and memory do not depend on the weights).
Exit status 0 when every case that could run passed, 1 when one failed, 2 on bad arguments or (without --tiny)
no CUDA GPU.
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
torch_compile = {compile}
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


def _launch(cmd: list[str], env: dict, log_path: Path, timeout: float) -> int | str:
    with open(log_path, "ab") as log:
        try:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return "timeout"


def run_case(case: str, runs: Path, fields: dict, *, timeout: float, nodes: int = 1) -> dict:
    """Train one case through the real worker (with `nodes` = 2: two launches on this machine, node 1 joining
    node 0's static rendezvous on 127.0.0.1); what the run recorded, or the failure."""
    import socket

    from ftwizard.backends.local import worker_command
    from ftwizard.backends.local.topology import Topology
    from ftwizard.recipe import parse_recipe
    from ftwizard.runs.directory import RunDirectory

    text = TEMPLATE.format(case=case, **fields)
    recipe = parse_recipe(text, source=f"case {case}")
    run = RunDirectory.create(runs, recipe.name, text)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # this checkout's worker
    if fields["device"] == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    t0 = time.time()
    if nodes == 1:
        code = _launch(worker_command(run, fields["nproc"]), env, run.path / "worker.log", timeout)
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            endpoint = f"127.0.0.1:{sock.getsockname()[1]}"
        procs = []
        for rank in range(nodes):
            node_env = dict(env)
            if fields["device"] == "cuda":
                node_env["CUDA_VISIBLE_DEVICES"] = str(rank)  # one GPU per "node"
            cmd = worker_command(run, fields["nproc"], Topology(nodes, rank, endpoint, "bench"))
            logs = runs.parent / "node-logs"  # not in the runs folder, which holds run directories only
            logs.mkdir(parents=True, exist_ok=True)
            log = open(logs / f"{run.path.name}.node{rank}.log", "wb")
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=node_env), log))
        codes = []
        for proc, log in procs:
            try:
                codes.append(proc.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append("timeout")
            log.close()
        code = next((c for c in codes if c != 0), 0)
    out: dict = {"case": case, "run_dir": str(run.path), "process_s": round(time.time() - t0, 1)}
    if code != 0 or run.state != "succeeded":
        errors = [e.get("message", "") for e in run.events(("error",))]
        return {**out, "ok": False, "error": errors[-1] if errors else f"exit {code}; see {run.path / 'worker.log'}"}
    s = json.loads((run.path / "train_summary.json").read_text())
    est = s.get("estimate") or {}
    peak, est_vram = s.get("peak_mem_gib"), est.get("vram_gb")
    tps, est_tps, mfu = s.get("train_tokens_per_s"), est.get("tokens_per_s"), s.get("mfu")
    probe = s.get("memory_probe") or {}
    speed = s.get("speed") or {}
    out.update(ok=True, steps=s["steps"], world_size=s.get("world_size"), train_tokens_per_s=tps,
               estimate_tokens_per_s=est_tps, mfu=mfu, hfu=s.get("hfu"),
               # the MFU the estimate's tokens/s would give on the run's own FLOPs basis (PaLM convention)
               estimate_mfu=round(mfu * est_tps / tps, 4) if mfu and est_tps and tps else None,
               peak_mem_gib=peak, peak_mem_kind=s.get("peak_mem_kind"), estimate_vram_gib=est_vram,
               peak_vs_estimate=round(peak / est_vram, 3) if peak and est_vram else None,
               probe_gib=probe.get("measured_gib"), probe_s=probe.get("seconds"), speed=speed,
               first_step_s=s.get("first_step_s"), quantized_layers=s.get("quantized_layers"),
               gradient_checkpointing=s.get("gradient_checkpointing"), packing=s.get("packing"),
               losses=[e["loss"] for e in run.events(("metric",)) if e.get("loss") is not None])
    if fields.get("quant", "none") != "none" and not s.get("quantized_layers"):
        out.update(ok=False, error=f"model.quant = {fields['quant']} but no bitsandbytes layer was trained")
    if fields.get("fsdp") == "true":
        out["adapter_saved"] = (run.adapter_dir / "adapter_model.safetensors").exists()
        if not (out["adapter_saved"] and speed.get("fsdp_sharded_params")):
            out.update(ok=False, error="FSDP: " + ("no adapter saved" if not out["adapter_saved"] else
                                                   "the parameters were not sharded (no DTensors)"))
    if nodes > 1 and s.get("world_size") != nodes * fields["nproc"]:
        out.update(ok=False, error=f"{nodes} nodes but world size {s.get('world_size')}")
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
                  compile="false", limit_train=400, limit_eval=16, max_length=64 if a.tiny else 1024,
                  micro_batch=2 if a.tiny else 8)
    timeout = 600 if a.tiny else 900
    liger = find_spec("liger_kernel") is not None and cuda
    vllm = find_spec("vllm") is not None and cuda
    steps = 2 if a.tiny else a.steps
    two = (not cuda) or torch.cuda.device_count() >= 2  # two processes: 2 CPU processes, or 2 GPUs

    def case(name: str, nodes: int = 1, **fields) -> dict:
        r = run_case(name, runs, {**common, **fields}, timeout=timeout, nodes=nodes)
        results["cases"].append(r)
        print(json.dumps({k: v for k, v in r.items() if k != "losses"}), flush=True)
        if not r.get("ok"):
            print(f"FAILED: {name}: {r.get('error')}", file=sys.stderr, flush=True)
        return r

    # 1. quantized, checkpointing on: peak vs estimate (bitsandbytes >= 0.48 runs on CUDA and on the CPU)
    for quant in ("8bit", "4bit"):
        if find_spec("bitsandbytes") is None:
            results["skipped"].append(f"{quant}: needs bitsandbytes (pip install 'ftwizard[quant]')")
            continue
        case(f"{quant}-gc", quant=quant, dtype=dtype, packing="false", gc="true", liger="false", steps=1 if cuda else 2,
             micro_batch=4)
    # 2. 16-bit speed: packing off/on, Liger off/on
    speed_cases = {}
    for packing in ("false", "true"):
        for lig in (("false", "true") if liger else ("false",)):
            name = f"{dtype}-packing-{'on' if packing == 'true' else 'off'}-liger-{'on' if lig == 'true' else 'off'}"
            speed_cases[name] = case(name, quant="none", dtype=dtype, packing=packing, gc="false", liger=lig,
                                     steps=steps)
    if not liger:
        results["skipped"].append("Liger: needs CUDA and liger-kernel (pip install 'ftwizard[fast]')")
    # 3. torch.compile: the eager case's losses, and the time to the first step
    eager = speed_cases.get(f"{dtype}-packing-off-liger-off") or {}
    comp = case(f"{dtype}-compile", quant="none", dtype=dtype, packing="false", gc="false", liger="false",
                steps=steps + 1, compile="true")  # tokens/s counts from step 2 (step 1 compiles)
    if comp.get("ok") and eager.get("ok"):
        gap = max(abs(x - y) for x, y in zip(comp["losses"], eager["losses"]))  # the eager case's steps
        comp["max_loss_gap_vs_eager"] = round(gap, 6)
        comp["eager_first_step_s"] = eager.get("first_step_s")
        if gap > (2e-3 if not cuda else 2e-2):
            comp.update(ok=False, error=f"compiled losses differ from eager by {gap:.2g}")
    # 4. FSDP2 across two processes, 16-bit and QLoRA (4-bit stored in the compute dtype)
    if two:
        case("fsdp2", quant="none", dtype=dtype, packing="false", gc="true", liger="false", steps=steps, nproc=2,
             fsdp="true")
        if find_spec("bitsandbytes") is not None:
            case("fsdp2-qlora-4bit", quant="4bit", dtype=dtype, packing="false", gc="true", liger="false",
                 steps=steps, nproc=2, fsdp="true")
        # 5. two "nodes" on this machine, one process each
        case("two-nodes", nodes=2, quant="none", dtype=dtype, packing="false", gc="false", liger="false",
             steps=steps)
    else:
        results["skipped"].append("FSDP and two nodes: need two GPUs")
    # 6. generation: vLLM vs HF on the same prompts
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
