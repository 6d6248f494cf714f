"""Every prompt the project writes: the training prompt of a round and the evaluation protocol's prompt.

Training (the official ThinkPrune prompt for the DeepSeek-R1-Distill family, docs/official_recipe.md): a system
message, with the limit sentence when the recipe asks, and the problem plus `TRAIN_SUFFIX`. Evaluation
(docs/evaluation.md): no system message, the problem plus `EVAL_SUFFIX`. Both are rendered by the checkpoint's
own chat template with its generation prompt (R1-style templates pre-fill "<think>\\n").
"""

from thinkprune.errors import UserError


TRAIN_SUFFIX = " Let's think step by step and output the final answer within \\boxed{}."
EVAL_SUFFIX = " Please reason step by step, and put your final answer within \\boxed{}."
R1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think></think> and <answer></answer> tags, "
    "respectively, i.e., <think> reasoning process here</think><answer> answer here</answer>."
)
LIMIT_SENTENCE = " The output of the assistant should be within {token_limit} tokens."
PROMPT_TEMPLATES = ("r1_distill", "plain")
THINK_END = "</think>"


def training_messages(problem: str, template: str, token_limit: int | None) -> list[dict]:
    """A round's chat prompt. `r1_distill` is the paper's; `plain` has no system message (the toy's)."""
    user = {"role": "user", "content": problem + TRAIN_SUFFIX}
    if template == "plain":
        return [user]
    if template == "r1_distill":
        system = R1_SYSTEM_PROMPT + (LIMIT_SENTENCE.format(token_limit=token_limit) if token_limit else "")
        return [{"role": "system", "content": system}, user]
    raise UserError(f"unknown prompt_template {template!r}: use one of {', '.join(PROMPT_TEMPLATES)}")


def eval_messages(problem: str, suffix: str = EVAL_SUFFIX, system_prompt: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": problem + suffix}]


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """The prompt ids GRPOTrainer would feed for this chat, with the model's template and generation prompt."""
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


def eval_prompt_ids(tokenizer, problem: str, suffix: str = EVAL_SUFFIX, system_prompt: str | None = None) -> list[int]:
    return prompt_ids(tokenizer, eval_messages(problem, suffix, system_prompt))


def split_thinking(text: str) -> tuple[str, str | None]:
    """(thinking, final answer or None while still thinking) of a generated response.

    R1-style templates pre-fill "<think>\\n", so usually only the closing tag is generated; a model whose template
    does not pre-fill may write the opening tag itself.
    """
    text = text.removeprefix("<think>").lstrip("\n")
    thinking, tag, answer = text.partition(THINK_END)
    return thinking.strip("\n"), answer.strip() if tag else None
