"""The last stage of a local run: the adapter saved whole, train_summary.json and cost.json, evaluation, and the
merged model for serving. Rank 0 does all of it except gathering a sharded adapter, which takes every rank."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from ftwizard.backends.local.world import barrier
from ftwizard.fmt import rate
from ftwizard.fsutil import atomic_dir, atomic_write_json

if TYPE_CHECKING:
    from ftwizard.backends.local.reporter import RunReporter
    from ftwizard.runs.directory import RunDirectory
    from ftwizard.runs.worker import Evaluator


def save_adapter(run: "RunDirectory", rep: "RunReporter", trainer, tok, *, main: bool, fsdp: bool) -> None:
    """adapter/ written whole or not at all. Under FSDP every rank takes part (the state dict is gathered
    through the Trainer); otherwise rank 0 alone saves the adapter it holds."""
    import os

    if fsdp:
        tmp = run.path / ".adapter.fsdp"
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        barrier()
        trainer.save_model(str(tmp))  # collective: all ranks
        barrier()
        if main:
            tok.save_pretrained(str(tmp))
            shutil.rmtree(run.adapter_dir, ignore_errors=True)
            os.replace(tmp, run.adapter_dir)
            rep.log(f"adapter saved: {run.adapter_dir}")
        return
    if main:
        with atomic_dir(run.adapter_dir) as tmp:
            trainer.model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
        rep.log(f"adapter saved: {run.adapter_dir}")


def write_summary(run: "RunDirectory", rep: "RunReporter", summary: dict[str, Any], *, elapsed: float,
                  device: str, gpu_name: str) -> None:
    """train_summary.json (the calibration record) and the actual training cost in cost.json + a cost event."""
    r = run.recipe()
    atomic_write_json(run.path / "train_summary.json", summary)
    hours = elapsed / 3600.0
    usd = rep.cost_so_far(elapsed)
    cost = {
        "training_usd": round(usd, 6) if usd is not None else None,
        "training_kind": "actual",
        "hours": round(hours, 6),
        "price_per_hour": rep.price,
        "gpu": gpu_name if device == "cuda" else (r.hardware.gpu if r.hardware.gpu != "auto" else "cpu"),
        "gpu_count": rep.gpu_count,
        "price_source": rep.price_source,
        "price_date": rep.price_date,
    }
    run.update_cost(**cost)
    rep.event("cost", usd=cost["training_usd"] or 0.0, kind="actual", what="training",
              detail=f"{hours:.3f} h x {rate(rep.price, 'h')} x {rep.gpu_count}" if rep.price else
              "no price: set hardware.price_per_hour")


def evaluate(run: "RunDirectory", rep: "RunReporter", model, tok, evaluate_after_training: "Evaluator") -> None:
    """The task's evaluation (and the base model's, eval.baseline), reported as a hosted run's is
    (`evaluate_after_training`, handed down by the worker's entry point)."""
    tok.padding_side = "left"
    if model is not None:
        model.eval()
        if hasattr(model, "config"):
            model.config.use_cache = True
    # The base model's pass runs through the same model with the adapter switched off.
    evaluate_after_training(run, log=rep.log, model=model, tokenizer=tok)


def merge_recipe(recipe, train_dtype):
    """The recipe that reloads a quantized run's base for merging: 16-bit, on the CPU, in the training dtype."""
    from ftwizard.backends.local.modeling import dtype_name

    return recipe.with_updates({"model.quant": "none", "hardware.device": "cpu",
                                "model.dtype": dtype_name(train_dtype)})


def merge(run: "RunDirectory", rep: "RunReporter", model, tok, train_dtype) -> None:
    """Merge the adapter into the base and save a standalone model in merged/ (for serving), in the
    training's compute dtype (bf16 stays bf16; never fp32 because the merge ran on the CPU)."""
    r = run.recipe()
    rep.log("merging the adapter into the base model for serving")
    if r.model.quant != "none" or model is None:
        # Merging into 8/4-bit weights loses precision: reload the base in 16-bit on the CPU and merge there
        # (also when the training model was released for vLLM).
        from ftwizard.backends.local.modeling import load_for_inference

        model, tok = load_for_inference(merge_recipe(r, train_dtype), run.adapter_dir)
    merged = model.merge_and_unload()
    merged.to(train_dtype)
    with atomic_dir(run.path / "merged") as tmp:
        merged.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
    rep.log(f"merged model saved: {run.path / 'merged'} ({merged.dtype})")

