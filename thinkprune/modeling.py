"""Loading checkpoints (local paths, Hub ids or the embedded `toy`) the same way for training, evaluation and demo."""

import os
from pathlib import Path

from huggingface_hub import hf_hub_download
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from thinkprune.errors import UserError
from thinkprune.hub import looks_like_hub_id
from thinkprune.toy import resolve_model_name


# Spaces, digits and newlines are where a rebuilt pre-tokenizer silently differs from the trained one.
TOKENIZER_PROBE = "Let's solve 12 + 345 = 357.\n\n  Wait,  is  x^2 \\frac{1}{2}?\n</think> The answer is \\boxed{357}."


def _tokenizer_json(name_or_path: str) -> str | None:
    """The checkpoint's tokenizer.json (what the model was trained with), or None when it has none."""
    local = Path(name_or_path) / "tokenizer.json"
    if Path(name_or_path).is_dir():
        return str(local) if local.exists() else None
    try:
        return hf_hub_download(name_or_path, "tokenizer.json")
    except Exception:
        return None


def load_tokenizer(name_or_path: str, **kwargs):
    """AutoTokenizer, checked against the checkpoint's own tokenizer.json.

    transformers 5 may rebuild a tokenizer from its declared class instead of its tokenizer.json (e.g. a Qwen2 or
    Llama pre-tokenizer that drops spaces: huggingface/transformers#45488). When the ids or the round trip of a probe
    string differ from tokenizer.json's, fall back to a `PreTrainedTokenizerFast` built from that file.
    """
    name_or_path = resolve_model_name(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise cannot_load("a tokenizer", name_or_path, error) from error

    tokenizer_file = _tokenizer_json(name_or_path)
    if tokenizer_file is not None:
        reference = Tokenizer.from_file(tokenizer_file).encode(TOKENIZER_PROBE, add_special_tokens=False).ids
        ids = tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
        if ids != reference or tokenizer.decode(ids) != TOKENIZER_PROBE:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(name_or_path, **kwargs)
            ids = tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
            if ids != reference:
                raise UserError(f"the tokenizer of {name_or_path!r} does not reproduce its own tokenizer.json")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str, **kwargs):
    """AutoModelForCausalLM with the same name resolution and error messages as `load_tokenizer`."""
    name_or_path = resolve_model_name(name_or_path)
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise cannot_load("a model", name_or_path, error) from error


def cannot_load(what: str, name_or_path: str, error: Exception) -> UserError:
    """One line for a checkpoint transformers could not load, saying what to do: a gated or private Hub model needs a
    token (on a Space, its HF_TOKEN secret), where a wrong id or path needs another."""
    text = str(error)
    log_in = "log in (`hf auth login`) or set HF_TOKEN, on a Space as a secret"
    private = f" (a private Hub model needs a token: {log_in})" if "private repository" in text else ""
    choices = "pass a local checkpoint directory, a Hub model id such as 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B', or 'toy'"
    if "gated repo" in text:
        advice = f"a gated model: ask for access on its Hub page, then {log_in}"
    elif looks_like_hub_id(name_or_path):  # owner/name: a Hub id, or a local folder that is not there
        advice = f"check the path or the Hub id{private}; {choices}"
    elif os.path.sep in name_or_path and not Path(name_or_path).exists():
        advice = f"check the path; {choices}"
    else:
        advice = f"check the id{private}; {choices}"
    return UserError(f"cannot load {what} from {name_or_path!r} ({type(error).__name__}): {advice}")


def eos_token_ids(tokenizer, generation_config) -> set[int]:
    """EOS of the tokenizer plus those of the generation config (R1-Distill and others declare several): a
    generation is finished when it ends on one of them, in training, evaluation and the demo alike."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(generation_config, "eos_token_id", None)
    ids.update([configured] if isinstance(configured, int) else configured or [])
    return ids
