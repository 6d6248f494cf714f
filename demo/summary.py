"""What the page says about a pane or a finished comparison: pure functions of the panes' snapshots."""

from thinkprune.grading import grade


STATUS_TEXT = {
    "waiting": "waiting",
    "loading": "loading the model…",
    "generating": "✍ generating…",
    "finished": "■ finished",
    "limit": "✂ hit the max-new-tokens limit",
    "stopped": "■ stopped",
    "error": "⚠ error",
}


def is_correct(snapshot: dict, gold: str) -> bool | None:
    """The project's grader on a finished response; None without a reference answer. A response cut by the limit or
    the Stop button has no final answer, which counts as incorrect (the paper's rule for unfinished responses)."""
    if not gold.strip() or snapshot["status"] in ("waiting", "loading", "generating", "error"):
        return None
    return snapshot["status"] == "finished" and grade(snapshot["text"], gold.strip())


def reference(gold: str) -> str:
    return f"(reference answer: ${gold.strip().strip('$')}$)"


def mark(correct: bool | None, gold: str) -> str:
    if correct is None:
        return ""
    return f"{'✓ correct' if correct else '✗ incorrect'} {reference(gold)}"


def token_ratio(base_tokens: int, pruned_tokens: int) -> float | None:
    return pruned_tokens / base_tokens if base_tokens > 0 else None


def saving_message(base_tokens: int, pruned_tokens: int) -> str:
    """e.g. "The pruned model used 38% of the original's tokens (120 vs 316: 62% fewer)."."""
    ratio = token_ratio(base_tokens, pruned_tokens)
    if ratio is None:
        return ""
    change = f"{1 - ratio:.0%} fewer" if ratio <= 1 else f"{ratio - 1:.0%} more"
    return (
        f"The pruned model used **{ratio:.0%}** of the original's tokens "
        f"({pruned_tokens:,} vs {base_tokens:,}: {change})."
    )


def forcing_text(snapshot: dict) -> str:
    """What budget forcing did to a pane: "" for a pane without a budget."""
    if not snapshot.get("force_budget"):
        return ""
    if snapshot.get("forced_at") is not None:
        return f"⏱ forced to answer at {snapshot['forced_at']:,} tokens"
    return f"⏱ budget {snapshot['force_budget']:,} tokens"


def stats_markdown(snapshot: dict) -> str:
    """Live counters of one pane: exact generated-token count, elapsed time, throughput, state, budget forcing."""
    forcing = forcing_text(snapshot)
    return (
        f"**{snapshot['num_tokens']:,} tokens** · {snapshot['elapsed_s']:.1f} s · "
        f"{snapshot['tokens_per_s']:.0f} tokens/s · {STATUS_TEXT[snapshot['status']]}"
        + (f" · {forcing}" if forcing else "")
    )


def math_markdown(text: str) -> str:
    """Models often write a bare `\\boxed{...}` outside any math span; put those in `$...$` so that the page renders
    them. Text that already uses math delimiters is left as written."""
    if any(delimiter in text for delimiter in ("$", "\\[", "\\(")):
        return text
    parts, position = [], 0
    while (start := text.find("\\boxed{", position)) >= 0:
        depth, end = 0, None
        for index in range(start + len("\\boxed"), len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                end = index + 1
                break
        if end is None:  # still being written: leave the open box as text
            break
        parts += [text[position:start], "$", text[start:end], "$"]
        position = end
    return "".join(parts) + text[position:]


def answer_markdown(snapshot: dict, gold: str) -> str:
    if snapshot["status"] == "error":
        return f"⚠ **{snapshot['error']}**"
    answer = snapshot["answer"]
    if answer is None:
        if not snapshot["done"]:
            return "_The final answer appears here once the model closes its thinking._"
        return "_No final answer: the model never closed its thinking (`</think>`)._"
    result = mark(snapshot["correct"], gold)
    return math_markdown(answer) + (f"\n\n**{result}**" if result else "")


def comparison_markdown(base: dict, pruned: dict, gold: str) -> str:
    """The verdict under both panes once they are done: token saving, correctness, and caveats."""
    if not (base["done"] and pruned["done"]):
        return "Both models are generating at the same time…"
    failed = [name for name, snapshot in (("original", base), ("pruned", pruned)) if snapshot["status"] == "error"]
    if failed:
        return f"No comparison: the {' and the '.join(failed)} model failed (see the message in its pane)."
    lines = [saving_message(base["num_tokens"], pruned["num_tokens"]) or "The original model generated no token."]
    if base.get("forced_at") is not None:
        lines.append(
            f"The original model was budget-forced: at {base['forced_at']:,} tokens its thinking was closed and it "
            "had to answer (the s1-style baseline a pruned model should beat)."
        )
    elif base.get("force_budget"):
        lines.append(f"The original model finished its thinking within its {base['force_budget']:,}-token budget.")
    for name, snapshot in (("original", base), ("pruned", pruned)):
        if snapshot["status"] == "limit":
            lines.append(f"The {name} model hit the max-new-tokens limit: its full answer would be longer.")
        elif snapshot["status"] == "stopped":
            lines.append(f"The {name} model was stopped: these are the counts so far.")
    marks = [(name, snapshot["correct"]) for name, snapshot in (("Original", base), ("Pruned", pruned))]
    if all(correct is not None for _, correct in marks):
        lines.append(
            " · ".join(f"{name}: {'✓ correct' if correct else '✗ incorrect'}" for name, correct in marks)
            + f" {reference(gold)}"
        )
    return "\n\n".join(lines)
