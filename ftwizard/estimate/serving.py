"""How many requests a GPU serves (physics); the dollars come from `ftwizard.pricing.serving_cost`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftwizard.catalog import GPU, OpenModel
from ftwizard.estimate.base import (CUDA_CONTEXT_GIB, GIB, SERVING_BW_EFFICIENCY, SERVING_CONCURRENCY,
                                    SERVING_PREFILL_EFFICIENCY, USABLE_VRAM, _as_gpu, _as_hosted, _as_model, _positive,
                                    _quant)
from ftwizard.estimate.flops import peak_flops, power_cap
from ftwizard.estimate.memory import weight_bytes
from ftwizard.pricing import HOURS_PER_MONTH, gpu_price, serving_cost

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel

def serving_estimate(*, hosted_model: "HostedModel | str", open_model: OpenModel | str, gpu: GPU | str,
                     price_per_hour: float | None = None, quant: str = "none", prompt_tokens: float,
                     completion_tokens: float, requests_per_month: float, concurrency: int = SERVING_CONCURRENCY,
                     local_token_ratio: float = 1.0, gpu_vram_gb: float | None = None,
                     provider: str | None = None) -> dict:
    """Hosted vs local serving cost per 1,000 requests and per month, and the monthly volume where local wins.

    Local decode is bounded by memory bandwidth: each step reads the weights once for the whole batch plus each
    sequence's KV cache; prefill is bounded by compute. The local GPU is rented around the clock.
    """
    hosted = _as_hosted(hosted_model, provider)
    model = _as_model(open_model)
    g = _as_gpu(gpu)
    quant = _quant(quant)
    prompt_tokens = _positive("prompt tokens", prompt_tokens, allow_zero=True)
    completion_tokens = _positive("completion tokens", completion_tokens)
    requests_per_month = _positive("requests per month", requests_per_month, allow_zero=True)
    concurrency = _positive("concurrency", concurrency, integer=True)
    price = gpu_price(g, flag=price_per_hour)
    out: dict[str, Any] = {
        "hosted_model": hosted.id, "open_model": model.id, "gpu": g.name, "quant": quant,
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "requests_per_month": requests_per_month,
        "price_per_hour": price["price_per_hour"], "price_source": price["price_source"],
        "price_date": price["price_date"],
    }
    w = weight_bytes(model, quant)
    weights = sum(w.values())
    p_local = prompt_tokens * local_token_ratio
    c_local = completion_tokens * local_token_ratio
    kv_per_token = 2 * model.layers * model.kv_heads * model.dim_head * 2
    vram = (gpu_vram_gb or g.vram_gb * USABLE_VRAM) * GIB
    if g.is_cpu:
        vram = (gpu_vram_gb or 16) * GIB
    free = vram - weights - CUDA_CONTEXT_GIB * GIB
    batch = min(concurrency, int(free // max(1.0, kv_per_token * (p_local + c_local)))) if free > 0 else 0
    if batch < 1:
        out.update(serving_cost(hosted, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                requests_per_month=requests_per_month, local=None))
        out.update(local_fits=False, local_tokens_per_s=None,
                   note=f"{model.id} ({quant}) does not fit on {g.name} for serving")
        return out
    bw = g.mem_bandwidth_gbs * 1e9 * SERVING_BW_EFFICIENCY
    step_bytes = weights + batch * kv_per_token * (p_local + c_local / 2)
    step_flops = batch * 2 * model.active_matmul_params
    compute = peak_flops(g, "bf16") * SERVING_PREFILL_EFFICIENCY * power_cap(g, SERVING_PREFILL_EFFICIENCY)
    step_s = max(step_bytes / bw, step_flops / compute)
    tokens_per_s = batch / step_s
    prefill_s = p_local * 2 * model.active_matmul_params / compute
    gpu_s_per_req = prefill_s + c_local / tokens_per_s
    capacity = HOURS_PER_MONTH * 3600 / gpu_s_per_req
    out.update(local_fits=True, local_batch=batch, local_tokens_per_s=round(tokens_per_s, 1),
               local_requests_per_gpu_month=int(capacity))
    out.update(serving_cost(hosted, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            requests_per_month=requests_per_month,
                            local={"gpu_seconds_per_request": gpu_s_per_req, "requests_per_gpu_month": capacity,
                                   "price": price}))
    out["assumptions"] = (f"local: a {g.name} rented {HOURS_PER_MONTH} h/month per GPU, {batch} requests decoded "
                          f"together, {int(SERVING_BW_EFFICIENCY * 100)}% of memory bandwidth")
    return out

