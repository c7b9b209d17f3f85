"""A tiny Llama and a locally trained tokenizer, saved as a normal model folder: no downloads.

`make_tiny_model(path)` writes config, weights and tokenizer to `path`, so a recipe can say
`model.base = "<path>"` and every loading path (hub id or local folder) is the real one.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CORPUS_FILES = ("viggo/train.csv", "sql-create-context/spider_create_context_train.jsonl")


def _corpus() -> list[str]:
    data = Path(__file__).resolve().parent.parent / "ftwizard" / "data"
    lines: list[str] = []
    for rel in DEFAULT_CORPUS_FILES:
        with open(data / rel, encoding="utf-8") as f:
            lines.extend(f.read().splitlines()[:3000])
    return lines


def make_tokenizer(vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    return fast


def make_tiny_model(path: str | Path, *, vocab_size: int = 512, hidden: int = 64, layers: int = 2, seed: int = 0,
                    make_tok=make_tokenizer) -> Path:
    """A tiny random Llama saved as a model folder with the tokenizer `make_tok(vocab_size)` builds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    if (path / "config.json").exists():
        return path
    torch.manual_seed(seed)
    tok = make_tok(vocab_size)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


# A ChatML-like chat template (as Qwen2.5 / SmolLM2 instruct models use), for tests of chat-template training.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_chat_tokenizer(vocab_size: int = 512):
    """The tiny BPE tokenizer with ChatML's special tokens and chat template; EOS = <|im_end|> (as instruct models)."""
    tok = make_tokenizer(vocab_size)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML_TEMPLATE
    return tok


def make_tiny_chat_model(path: str | Path, *, vocab_size: int = 512, hidden: int = 64, layers: int = 2,
                         seed: int = 0) -> Path:
    """A tiny Llama whose tokenizer has a chat template (an 'instruct' model), saved as a model folder."""
    return make_tiny_model(path, vocab_size=vocab_size, hidden=hidden, layers=layers, seed=seed,
                           make_tok=make_chat_tokenizer)


def load_lively(path: str | Path, *, seed: int = 1, std: float = 0.3):
    """(model, tokenizer) from a tiny model folder with larger random weights, so every prompt gets a different
    continuation (the saved initialisation answers almost everything alike)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, std)
    return model, AutoTokenizer.from_pretrained(path)
