"""What a fine-tune will need and cost before it runs: VRAM, hours and dollars for LoRA; dollars for hosted.

Everything here is arithmetic on the catalog (ftwizard/catalog/*.toml) and on token counts of the recipe's data
(cached on disk), so an estimate takes milliseconds and never imports torch. docs/estimates.md explains every
formula and where each calibration number comes from; the tests hold the estimator to public measurements.

Modules, one job each: `base` (constants, input checks), `memory` (LoRA parameters, VRAM), `throughput` (the speed
model and the FLOP counts behind MFU and HFU), `tokens`
(token counts of the data), `calibration` (past runs), `serving` (requests a GPU serves), `recipe` (the whole
estimate). Prices come from `ftwizard.pricing`.
"""

from ftwizard.estimate.base import (BYTES_PER_PARAM, CUDA_CONTEXT_GIB, DEFAULT_TOKENIZER_RATIO, GIB,
                                    SPECIAL_TOKENS, TOKENIZER_RATIO, USABLE_VRAM, _positive, _quant)
from ftwizard.estimate.calibration import calibration
from ftwizard.estimate.flops import eval_flops_per_token, peak_flops, train_flops_per_token
from ftwizard.estimate.memory import (activation_bytes_per_token, estimate_vram, lora_params, module_shapes,
                                      resolve_targets, weight_bytes)
from ftwizard.estimate.recipe import estimate_recipe
from ftwizard.estimate.serving import serving_estimate
from ftwizard.estimate.tokens import local_lengths, local_tokenizer_file, padded_tokens_per_sequence, token_stats
from ftwizard.runs.directory import default_runs_dir

__all__ = [
    "BYTES_PER_PARAM", "CUDA_CONTEXT_GIB", "DEFAULT_TOKENIZER_RATIO", "GIB", "SPECIAL_TOKENS",
    "TOKENIZER_RATIO", "USABLE_VRAM", "activation_bytes_per_token", "calibration", "default_runs_dir",
    "estimate_recipe", "estimate_vram", "eval_flops_per_token", "local_lengths", "local_tokenizer_file",
    "lora_params", "module_shapes", "padded_tokens_per_sequence", "peak_flops", "resolve_targets",
    "serving_estimate", "token_stats", "train_flops_per_token", "weight_bytes",
    "_positive", "_quant",
]
