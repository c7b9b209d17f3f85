"""The whole estimate for a recipe: local LoRA (memory, time, dollars) and hosted fine-tuning, with what-ifs."""

from __future__ import annotations

import datetime
import math
import os
import statistics
from typing import TYPE_CHECKING

from ftwizard.catalog import GPU, get_gpu, get_hosted_model, get_open_model, match_gpu, wind_down
from ftwizard.errors import UsageError
from ftwizard.estimate.base import (BYTES_PER_PARAM, CALIBRATED_RANGE, DEFAULT_HOST_LINK_GBS, DEFAULT_TOKENIZER_RATIO,
                                    ENCODING_RATIO, GIB, LOAD_GBPS, SPEED, TOKENIZER_RATIO, UNCALIBRATED_RANGE,
                                    _positive, _quant)
from ftwizard.estimate.calibration import calibration
from ftwizard.estimate.flops import eval_flops_per_token, flops_per_token, peak_flops, power_cap
from ftwizard.estimate.memory import estimate_vram, lora_params, target_spellings
from ftwizard.estimate.throughput import RunShape, speed_knobs, step_time
from ftwizard.estimate.serving import serving_estimate
from ftwizard.estimate.tokens import local_lengths, local_tokenizer_file, padded_tokens_per_sequence, token_stats
from ftwizard.plan.fit import fit_on
from ftwizard.plan.schedule import local_schedule
from ftwizard.plan.estimate import Estimate, LocalEstimate
from ftwizard.plan.price import Price
from ftwizard.pricing import gpu_price

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

def nearest_fits(om, g: GPU, vram_args: dict, usable: float, mem_factor: float, nproc: int, *,
                 can_offload: bool = False) -> list[dict]:
    """The smallest changes that make a configuration fit, one per kind: micro-batch, checkpointing, activation
    offloading (`can_offload`: the trainer would honour it), quantization, FSDP over more GPUs of the same card, a
    bigger card (the same memory model; at most one of each)."""
    from ftwizard.catalog import gpus as all_gpus

    def vram(**change) -> float:
        return estimate_vram(om, **{**vram_args, **change})["vram_gb"] * mem_factor

    def first_fit(label: str, **change) -> dict | None:
        """The change with the largest micro-batch (halving from the recipe's) that fits."""
        mb = vram_args["micro_batch"]
        while mb >= 1:
            if (v := vram(**change, micro_batch=mb)) <= change.pop("_usable", usable):
                extra = f" --set train.micro_batch_size={mb}" if mb != vram_args["micro_batch"] else ""
                return {"change": (label + extra).strip(), "vram_gb": round(v, 1), "_mb": mb}
            mb //= 2
        return None

    gc = {} if vram_args["gradient_checkpointing"] else {"gradient_checkpointing": True}
    gc_label = "" if not gc else "--set train.gradient_checkpointing=true"
    candidates = [("", {}), (gc_label, gc)] if gc else [("", {})]
    if can_offload and not vram_args.get("offload"):
        candidates.append(("--set train.activation_offloading=true", {"offload": True}))
    for q in ("8bit", "4bit"):  # a quantized base turns checkpointing on by itself (train.gradient_checkpointing auto)
        if q == "8bit" and vram_args.get("shards", 1) > 1:
            continue  # FSDP cannot shard an 8-bit base (the recipe refuses it), so it is no way to fit
        if BYTES_PER_PARAM[q] < BYTES_PER_PARAM[vram_args["quant"]]:
            candidates.append((f"--quant {q}", {"quant": q, "gradient_checkpointing": True}))
    if vram_args["quant"] == "none":
        candidates += [(f"--gpus {n} --set train.fsdp=true {gc_label}", {"shards": n, **gc})
                       for n in (2, 4, 8) if n > nproc]
    out: list[dict] = []
    best_mb = 0  # offloading costs time on every step: offered only where it keeps a larger micro-batch
    for label, change in candidates:
        if (hit := first_fit(label, **change)) and hit["change"]:
            mb = hit.pop("_mb")
            if change.get("offload") and mb <= best_mb:
                continue
            best_mb = max(best_mb, mb)
            out.append(hit)
            if len(out) >= 3:
                break
    # a card with a catalog price first (the suggestion can then be priced), the smallest that fits
    for other in sorted(all_gpus(), key=lambda x: (x.default_usd_per_hour is None, x.vram_gb)):
        if not other.is_cpu and other.vram_gb > g.vram_gb and fit_on(other, v := vram()).fits:
            out.append({"change": f"--gpu {other.name}", "vram_gb": round(v, 1)})
            break
    return out


def model_code_path(om, quant: str) -> dict:
    """What the model's own code runs. Qwen v1 (remote code): in 16-bit the Trainer's bf16 autocast takes its
    cross-entropy in fp32, like transformers' own loss; its 4-bit models are the published GPTQ Int4 checkpoints
    (AutoGPTQ kernels), which peft's k-bit preparation does not upcast to fp32 and which train in fp16 without
    autocast (Qwen's Q-LoRA recipe runs DeepSpeed's fp16 engine), so that loss stays in 16-bit. Every other model
    goes through transformers' loss (fp32) and, 4-bit, bitsandbytes nf4 with the fp32 lm_head."""
    if om.family == "qwen" and quant == "4bit":
        return {"loss_fp32": False, "kbit_prep": False, "gptq": True}
    return {}


def _detected_gpu() -> tuple[GPU | None, float | None, str]:
    try:
        from ftwizard.hardware import detect_gpus

        found = detect_gpus(allow_torch=False)
    except Exception:  # noqa: BLE001 - detection is best effort here
        found = []
    for g in found:
        cat = match_gpu(g.get("name", ""), g.get("vram_total_gb"))
        if cat:
            return cat, g.get("vram_total_gb"), f"detected {g.get('name')}"
    return None, None, "no GPU detected"


def estimate_recipe(recipe: "Recipe", *, gpu: str | None = None, price_per_hour: float | None = None,
                    quant: str | None = None, examples: int | None = None, tokens_per_example: int | None = None,
                    epochs: float | None = None, rank: int | None = None, hosted_model: str | None = None,
                    model: str | None = None, runs_dir: str | os.PathLike | None = "runs",
                    use_cache: bool = True, calibrate: bool = True, as_of: datetime.date | None = None,
                    gpus: int | None = None) -> dict:
    """Local LoRA and hosted fine-tuning estimates for a recipe, with what-if overrides (the `--json` shape).

    `hosted_candidates` lists every provider's catalog models priced on the same data and epochs, judged on
    `as_of` (default FTWIZARD_AS_OF, else today); `warnings` flags what-if inputs far outside real fine-tuning.
    """

    if as_of is None:
        from ftwizard import settings

        as_of = settings.as_of()  # FTWIZARD_AS_OF, as `run`'s preflight judges the day
    price_per_hour = _positive("--price-per-hour", price_per_hour)
    examples = _positive("--examples", examples, integer=True)
    tokens_per_example = _positive("--tokens-per-example", tokens_per_example, integer=True)
    epochs = _positive("--epochs", epochs)
    rank = _positive("--rank", rank, integer=True)
    gpus = _positive("--gpus", gpus, integer=True)
    notes: list[str] = []

    # -- what runs where ------------------------------------------------------------------
    model_id = model or recipe.model.catalog_id or recipe.model.base
    om = get_open_model(model_id)
    q = _quant(quant or recipe.model.quant)
    if q != recipe.model.quant:  # a what-if quantization is judged by the recipe's own checks (FSDP refuses 8-bit)
        recipe = recipe.with_updates({"model.quant": q})
    r = rank or recipe.lora.r
    gpu_vram_detected = None
    if gpu:
        g = get_gpu(gpu)
    elif recipe.hardware.gpu and recipe.hardware.gpu != "auto":
        g = get_gpu(recipe.hardware.gpu)
    elif recipe.hardware.device == "cpu":  # the run trains on the CPU whatever GPU this machine has
        g = get_gpu("cpu")
        notes.append("hardware.device = 'cpu': estimating for the CPU")
    else:
        g, gpu_vram_detected, how = _detected_gpu()
        if g is None:
            g = get_gpu("A40")
            notes.append(f"{how}: estimating for an A40 (the seed's card); use --gpu NAME for another")
        else:
            notes.append(f"{how}")
    dtype = recipe.model.dtype
    if dtype == "auto":
        dtype = "fp32" if g.is_cpu else ("bf16" if g.bf16 else "fp16")
    dtype_bytes = 4.0 if dtype == "fp32" else 2.0
    if not hosted_model:  # a local recipe is weighed against a hosted fine-tune that takes jobs today
        from ftwizard.defaults import hosted_side

        recipe, hosted_note = hosted_side(recipe, as_of)
        if hosted_note:
            notes.append(hosted_note)
    # the recipe's model on the recipe's provider; a --hosted-model names a model, whose first provider prices it
    hm = get_hosted_model(hosted_model) if hosted_model else get_hosted_model(recipe.hosted.model,
                                                                            recipe.hosted.provider)
    gc = recipe.gradient_checkpointing_on(q)
    if q != "none" and not gc:
        notes.append("gradient checkpointing is off (train.gradient_checkpointing = false) with a quantized base: "
                     "activations of every layer are kept")

    # -- the data's tokens ---------------------------------------------------------------------
    tok_file = local_tokenizer_file(recipe.model.base)
    stats = token_stats(recipe, hm, tokenizer_file=tok_file, use_cache=use_cache)
    lengths, tok_method = local_lengths(stats, om, "train")
    eval_lengths, _ = local_lengths(stats, om, "eval")
    if tok_method.get("note"):
        notes.append("local token counts " + tok_method["note"])
    n_data = stats["n_train"]
    n = examples or n_data
    max_len = recipe.train.max_length
    if tokens_per_example:
        lengths = [tokens_per_example]
        eval_lengths = [tokens_per_example] if eval_lengths else []
    lengths = [min(x, max_len) for x in lengths]
    eval_lengths = [min(x, max_len) for x in eval_lengths]
    mean_len = statistics.fmean(lengths)
    longest = max(lengths)

    # -- local: steps, tokens, time --------------------------------------------------------------
    t = recipe.train
    nproc = gpus or recipe.hardware.nproc
    knobs = speed_knobs(recipe, g, dtype)
    seqs_per_step = t.micro_batch_size * t.grad_accum * nproc
    steps = local_schedule(recipe, n, world=nproc, epochs=epochs).steps
    sequences = steps * seqs_per_step
    if t.packing:
        per_seq = float(max_len)
        train_tokens = sequences * per_seq if (t.max_steps > 0 and epochs is None) else \
            (epochs or t.epochs) * n * mean_len
        peak_seq = max_len
    else:
        per_seq = padded_tokens_per_sequence(lengths, t.micro_batch_size, group_by_length=t.group_by_length)
        train_tokens = sequences * per_seq
        peak_seq = longest
    train_tokens = int(round(train_tokens))
    n_lora = lora_params(om, r, recipe.lora.target_modules)
    model_code = model_code_path(om, q)
    shape = RunShape(quant=q, rank=r, targets=tuple(recipe.lora.target_modules), micro_batch=t.micro_batch_size,
                     seq_len=per_seq, grad_accum=t.grad_accum, gradient_checkpointing=gc, attn=knobs["attn"],
                     liger=knobs["liger"], compile=knobs["compile"], lora_dropout=recipe.lora.dropout, gpus=nproc,
                     fsdp=knobs["fsdp"], gptq=bool(model_code.get("gptq")), offload=knobs["offload"])
    flops = flops_per_token(om, per_seq, gradient_checkpointing=gc, n_lora=n_lora, attn=knobs["attn"])
    fpt = flops["hardware"]
    peak = peak_flops(g, dtype)
    if g.effective:  # the CPU: a measured effective rate, no datasheet to model
        tokens_per_s = peak / fpt
        timing = None
    else:
        timing = step_time(om, g, shape, dtype=dtype)
        tokens_per_s = timing["tokens_per_s"]          # per GPU
    train_s = train_tokens / (tokens_per_s * nproc)
    eval_s = 0.0
    n_evals = steps // t.eval_every if t.eval_every > 0 and eval_lengths else 0
    eval_tokens = 0
    eval_rate = peak * (1.0 if g.effective else SPEED["compute_eff"] * power_cap(g, SPEED["compute_eff"]))
    if n_evals:
        n_eval_ex = min(t.eval_loss_examples or len(eval_lengths), len(eval_lengths))
        eval_per_seq = padded_tokens_per_sequence(eval_lengths[:n_eval_ex] if tokens_per_example else
                                                  eval_lengths, t.micro_batch_size, group_by_length=False)
        eval_tokens = int(n_evals * n_eval_ex * eval_per_seq)
        eval_s = eval_tokens * eval_flops_per_token(om, eval_per_seq) / eval_rate / nproc
    load_s = om.params * 2 / (LOAD_GBPS * 1e9)

    # -- local: memory ----------------------------------------------------------------------------
    vram_args = dict(quant=q, rank=r, target_modules=recipe.lora.target_modules, lora_dropout=recipe.lora.dropout,
                     micro_batch=t.micro_batch_size, seq_len=peak_seq, gradient_checkpointing=gc,
                     optimizer=t.optimizer, dtype_bytes=dtype_bytes, attn=knobs["attn"], liger=knobs["liger"],
                     shards=nproc if knobs["fsdp"] else 1, offload=knobs["offload"],
                     eval_seq_len=(max_len if t.packing else max(eval_lengths)) if n_evals else 0,
                     **{k: v for k, v in model_code.items() if k != "gptq"})
    vram = estimate_vram(om, **vram_args)
    if knobs["offload"]:
        notes.append(f"activation offloading: {vram['offloaded_gb']:.2f} GB per micro-batch to host memory and back "
                     f"over {g.name}'s host link" + ("" if g.host_link[0] else " (not in the catalog: PCIe Gen4 x16 "
                                                       "assumed)"))
    if vram["unknown_target_modules"]:
        notes.append("LoRA targets not counted (not a module of this model the estimator knows): "
                     + ", ".join(vram["unknown_target_modules"]) + f"; {om.id}'s linear layers: "
                     + ", ".join(target_spellings(om)))

    # -- calibration from past runs ------------------------------------------------------------------
    cal = calibration(runs_dir, gpu=g.name, family=om.family, quant=q) if calibrate else \
        {"n": 0, "runs": [], "mem_factor": 1.0, "speed_factor": 1.0}
    raw = {"vram_gb": vram["vram_gb"], "tokens_per_s": round(tokens_per_s, 2),
           "hours": round((train_s + eval_s + load_s) / 3600, 4)}
    vram_gb = vram["vram_gb"] * cal["mem_factor"]
    train_s /= cal["speed_factor"]
    eval_s /= cal["speed_factor"]
    tokens_per_s *= cal["speed_factor"]
    if cal["n"]:
        notes.append(f"calibrated from {cal['n']} run{'s' if cal['n'] != 1 else ''} on {g.name} "
                     f"({om.family}, quant {q}): memory x{cal['mem_factor']}, speed x{cal['speed_factor']}")
    hours = (train_s + eval_s + load_s) / 3600
    # The time's range (docs/estimates.md): uncalibrated, the public anchors sit within UNCALIBRATED_RANGE of the
    # formula; calibrated, the spread of this machine's measured/estimated ratios (at least CALIBRATED_RANGE).
    if cal["n"] and cal.get("speed_spread"):
        lo_f, hi_f = cal["speed_spread"]
        lo_f, hi_f = min(lo_f / cal["speed_factor"], CALIBRATED_RANGE[0]), max(hi_f / cal["speed_factor"],
                                                                               CALIBRATED_RANGE[1])
        hours_range = (hours / hi_f, hours / lo_f)
    else:
        hours_range = (hours * UNCALIBRATED_RANGE[0], hours * UNCALIBRATED_RANGE[1])

    detected = gpu_vram_detected
    if g.is_cpu:
        import psutil

        detected = round(psutil.virtual_memory().total / GIB, 1)
    fit = fit_on(g, vram_gb, detected_gb=detected)
    gpu_vram, usable, fits = fit.device_gb, fit.usable_gb, fit.fits
    nearest = [] if fits or g.is_cpu else nearest_fits(om, g, vram_args, usable, cal["mem_factor"], nproc,
                                                       can_offload=recipe.activation_offloading_works(q))
    if not fits and not g.is_cpu:
        notes.append(f"does not fit ({vram_gb:.1f} GB of {usable:.1f} GB usable): not priced"
                     + ("; nearest that fits: " + "; ".join(n["change"] for n in nearest) if nearest else ""))
    price = Price.from_dict(gpu_price(g, flag=price_per_hour, recipe=recipe))
    if price.note and price_per_hour is None:
        notes.append(price.note)
    local = LocalEstimate(
        model=om.id, gpu=g.name, gpu_count=nproc, quant=q, dtype=dtype, fit=fit, on_cpu=g.is_cpu,
        nearest_fits=tuple(nearest), tokens_per_s=tokens_per_s, train_tokens=train_tokens,
        train_sequences=sequences, steps=steps, epochs_equivalent=round(sequences / n, 2), hours=hours,
        hours_range=tuple(hours_range), price=price, gradient_checkpointing=gc, calibrated_from_runs=cal["n"],
        uncalibrated=raw,
        details={
            "model_source": om.source, "family": om.family, "params": om.params,
            "breakdown": {
                "vram": vram["parts_gb"], "lora_params": n_lora, "trainable_pct": vram["trainable_pct"],
                "peak_seq_len": peak_seq, "micro_batch": t.micro_batch_size,
                "activation_offloading": None if not knobs["offload"] else {
                    "offloaded_gb": vram["offloaded_gb"], "host_link_gbs": g.host_link[0] or DEFAULT_HOST_LINK_GBS,
                    "host_link_source": g.host_link[1] or "not in the catalog: PCIe Gen4 x16 assumed"},
                "time": {"train_s": round(train_s), "eval_loss_s": round(eval_s), "load_s": round(load_s),
                         "hours_exact": [hours, *hours_range],
                         "eval_passes": n_evals, "eval_tokens": eval_tokens,
                         "flops_per_token": fpt, "model_flops_per_token": flops["model"],
                         "peak_tflops": round(peak / 1e12, 2),
                         "mfu": round(tokens_per_s * flops["model"] / peak, 4),
                         "hfu": round(tokens_per_s * fpt / peak, 4),
                         "seconds": None if timing is None else {k: round(v, 4) for k, v in timing["parts_s"].items()},
                         "micro_batch_s": None if timing is None else round(timing["micro_batch_s"], 4),
                         "bound": None if timing is None else timing["bound"], **knobs, "gptq": shape.gptq},
                "tokens": {"examples": n, "mean_len": round(mean_len, 1), "max_len": longest,
                           "padded_len": round(per_seq, 1), "max_length": max_len, **tok_method,
                           "what_if": bool(examples or tokens_per_example)},
                "calibration": cal, "uncalibrated": raw,
            },
        })

    # -- hosted ---------------------------------------------------------------------------------
    hs = stats["hosted"]
    if tokens_per_example:
        per_epoch = n * min(tokens_per_example, hm.max_tokens_per_example)
    elif examples:
        per_epoch = int(round(hs["billed_tokens_per_epoch"] / max(1, n_data) * n))
    else:
        per_epoch = hs["billed_tokens_per_epoch"]
    from ftwizard.plan.hosted import hosted_plan

    hplan = hosted_plan(hm.provider, hm.id, hm, examples=n, billed_tokens_per_epoch=per_epoch,
                        setting=recipe.hosted.epochs, override=epochs)
    h_epochs, epochs_rule, billed, h_cost = hplan.epochs, hplan.epochs_rule, hplan.billed_tokens, hplan.usd
    wd = wind_down()
    until = hm.training_available_until if wd.get("provider") == hm.provider else None
    closed = hm.training_closed_reason(as_of)
    hosted = {
        "model": hm.id, "provider": hm.provider, "encoding": hm.encoding,
        "billed_tokens_per_epoch": per_epoch, "billed_tokens": billed, "epochs": h_epochs,
        "epochs_rule": epochs_rule, "examples": n, "usd_per_1m_training": hm.training_usd_per_1m,
        "cost_usd": round(h_cost, 2), "price_source": hm.price_source, "price_date": hm.price_date,
        "available_until": until,
        "availability": (f"OpenAI stops new fine-tuning jobs after {until} "
                         f"({wd.get('source', '')}); organisations that never fine-tuned lost job creation on "
                         f"{wd.get('never_fine_tuned', '?')}") if until else None,
        "n_too_long": hs.get("n_too_long", 0),
        "training_available_until": hm.training_available_until, "shutdown_date": hm.shutdown_date,
        "available": closed is None, "unavailable_reason": closed, "as_of": as_of.isoformat(),
    }
    if hm.extra.get("billing_note"):
        hosted["note"] = hm.extra["billing_note"]

    # -- serving ----------------------------------------------------------------------------------
    serving = None
    if price.usd_per_hour is not None:
        try:
            serving = serving_estimate(
                hosted_model=hm, open_model=om, gpu=g, price_per_hour=price.usd_per_hour, quant=q,
                prompt_tokens=max(1.0, hs["prompt_mean"]), completion_tokens=max(1.0, hs["assistant_mean"]),
                requests_per_month=recipe.eval.requests_per_month,
                local_token_ratio=TOKENIZER_RATIO.get(om.family, DEFAULT_TOKENIZER_RATIO),
                gpu_vram_gb=gpu_vram_detected)
        except UsageError as e:
            notes.append(f"serving: {e}")

    ratio = None
    cost = local.cost_usd
    if cost and cost > 0 and h_cost is not None:
        ratio = round(h_cost / cost, 2)
    candidates = hosted_candidate_costs(per_epoch, hm.encoding, h_epochs, as_of, tokens_per_example=tokens_per_example,
                                        examples=n)
    warnings = what_if_warnings(examples=examples, tokens_per_example=tokens_per_example, epochs=epochs, rank=rank,
                                price_per_hour=price_per_hour, max_length=max_len)
    return Estimate(recipe=recipe.name, local=local, hosted_plan=hplan, hosted=hosted, ratio=ratio, serving=serving,
                    hosted_candidates=tuple(candidates), warnings=tuple(warnings), notes=tuple(warnings + notes),
                    token_stats_cached=bool(stats.get("cached", False)))


def hosted_candidate_costs(per_epoch: int, encoding: str, epochs: float, as_of, *,
                           tokens_per_example: int | None = None, examples: int = 0) -> list[dict]:
    """Every catalog hosted model (`ftwizard.catalog.hosted_candidates`) priced on the same data and epochs.

    Billed tokens in another encoding are this encoding's count x ENCODING_RATIO (documented, measured on the
    bundled data; `tokens_counted` says so); with --tokens-per-example every model bills that many per example.
    Together and Tinker bill with the model's own tokenizer: their counts are approximations (their own
    price estimate, recorded before a job starts, is the figure to trust).
    """
    from ftwizard.catalog import hosted_candidates, hosted_models
    from ftwizard.plan.hosted import hosted_plan

    out = []
    for m, c in zip(hosted_models(), hosted_candidates(as_of)):
        if tokens_per_example:
            per = examples * min(tokens_per_example, m.max_tokens_per_example)
            how = "--tokens-per-example"
        elif m.encoding == encoding:
            per, how = per_epoch, f"counted ({encoding})"
        else:
            ratio = ENCODING_RATIO.get((encoding, m.encoding), 1.0)
            per = int(round(per_epoch * ratio))
            how = f"{encoding} count x {ratio:g} for {m.encoding} (docs/estimates.md)"
        plan = hosted_plan(m.provider, m.id, m, examples=examples, billed_tokens_per_epoch=per, override=epochs)
        out.append({**c, "billed_tokens": plan.billed_tokens, "epochs": epochs, "tokens_counted": how,
                    "cost_usd": round(plan.usd, 2)})
    return out


# What real fine-tuning looks like (the providers' published limits): far outside these, a what-if is likely a typo.
REAL_USE = {"examples": (10, 2_000_000), "tokens_per_example": (8, 131_072), "epochs": (0.1, 25), "rank": (1, 512),
            "price_per_hour": (0.05, 100.0)}


def what_if_warnings(**inputs) -> list[str]:
    """One line per what-if input far outside real use (the estimate is still made)."""
    out = []
    labels = {"examples": "--examples", "tokens_per_example": "--tokens-per-example", "epochs": "--epochs",
              "rank": "--rank", "price_per_hour": "--price-per-hour"}
    for key, (lo, hi) in REAL_USE.items():
        v = inputs.get(key)
        if v is None:
            continue
        if v < lo or v > hi:
            out.append(f"{labels[key]} {v:,g} is far outside real fine-tuning ({lo:,g} to {hi:,g}): check the number")
    tpe, max_len = inputs.get("tokens_per_example"), inputs.get("max_length")
    if tpe and max_len and tpe > max_len:
        out.append(f"--tokens-per-example {tpe:,} is longer than train.max_length {max_len:,}: local training cuts "
                   "each example there while hosted bills every token (raise it with --set train.max_length=N)")
    return out
