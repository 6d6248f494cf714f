"""Two models answering one problem at the same time, streamed as one sequence of snapshots.

Each model generates in its own thread; `stream_pair` merges both into one generator, so a single Gradio event
updates both panes while they run (two events would run one after the other in the browser). Token counts are the
generated ids themselves, seen by `IdStreamer`, never a re-tokenisation of the decoded text.

A pane with a `force_budget` is budget-forced as the evaluation forces (thinkprune.budget): it generates up to the
budget; if by then it has neither ended nor closed its thinking, the lead-in is appended (streamed, and counted) and
it answers in at most `FORCE_ANSWER_TOKENS` more tokens.
"""

import copy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteriaList

from thinkprune.budget import (
    FORCE_ANSWER_TOKENS,
    default_lead_in,
    lead_in_ids,
    needs_forcing,
    think_end_position,
    think_end_token_id,
)
from thinkprune.errors import UserError
from thinkprune.modeling import eos_token_ids
from thinkprune.prompts import eval_prompt_ids, split_thinking


@dataclass
class SamplingSettings:
    max_new_tokens: int
    temperature: float
    top_p: float


class IdStreamer:
    """A transformers streamer that hands every generated id to `on_ids` (the first `put` is the prompt)."""

    def __init__(self, on_ids: Callable[[list[int]], None]):
        self.on_ids = on_ids
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.on_ids(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class StopOnEvent:
    """A stopping criterion that ends generation at the next token once `event` is set (the Stop button)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def is_done(status: str) -> bool:
    return status in ("finished", "limit", "stopped", "error")


@dataclass
class Pane:
    """What one model has done so far; written by its worker thread, read by the merging generator."""

    role: str
    model_name: str | None
    force_budget: int | None = None  # budget forcing at this many tokens (or max new tokens, if fewer)
    forced_at: int | None = None  # the tokens it had when it was forced to answer; None while it was not
    ids: list[int] = field(default_factory=list)
    status: str = "waiting"  # waiting -> loading -> generating -> finished | limit | stopped | error
    error: str | None = None
    decode: Callable[[list[int]], str] | None = None
    eos_ids: tuple[int, ...] = ()
    started_at: float | None = None
    first_token_at: float | None = None
    ended_at: float | None = None

    @property
    def done(self) -> bool:
        return is_done(self.status)

    def snapshot(self, now: float) -> dict:
        # The status first: a done status is set after the last id, so "done" never comes with a partial count.
        status = self.status
        ids = list(self.ids)  # the worker appends concurrently: read once
        text = self.decode(ids) if self.decode and ids else ""
        thinking, answer = split_thinking(text)
        elapsed = ((self.ended_at or now) - self.started_at) if self.started_at else 0.0
        return {
            "role": self.role,
            "model": self.model_name,
            "status": status,
            "done": is_done(status),
            "error": self.error,
            "num_tokens": len(ids),
            "force_budget": self.force_budget,
            "forced_at": self.forced_at,
            "elapsed_s": round(elapsed, 3),
            "tokens_per_s": round(len(ids) / elapsed, 1) if elapsed > 0 else 0.0,
            "first_token_s": round(self.first_token_at - self.started_at, 3) if self.first_token_at else None,
            "text": text,
            "thinking": thinking,
            "answer": answer,
        }


def run_pane(
    pane: Pane,
    load: Callable,
    problem: str,
    settings: SamplingSettings,
    max_prompt_tokens: int,
    stop: threading.Event,
    changed: threading.Event,
) -> None:
    """Worker thread body: load, generate with streaming ids, and record how it ended. Never raises: a failure
    becomes the pane's error message so that the other pane and the app keep going."""
    try:
        pane.status = "loading"
        changed.set()
        loaded = load(pane.model_name)
        tokenizer, model = loaded.tokenizer, loaded.model
        prompt_ids = eval_prompt_ids(tokenizer, problem)  # the evaluation protocol's prompt
        if len(prompt_ids) > max_prompt_tokens:
            raise ValueError(f"the prompt is {len(prompt_ids)} tokens long, over this demo's {max_prompt_tokens}")
        pane.decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
        pane.eos_ids = tuple(sorted(eos_token_ids(tokenizer, model.generation_config)))

        def configure(max_new_tokens: int):
            return sampling_config(
                model.generation_config, settings, tokenizer.pad_token_id, pane.eos_ids, max_new_tokens
            )

        def on_ids(ids: list[int]) -> None:
            if pane.first_token_at is None:
                pane.first_token_at = time.perf_counter()
            pane.ids.extend(ids)
            changed.set()

        budget = min(pane.force_budget or settings.max_new_tokens, settings.max_new_tokens)
        limit = budget
        pane.started_at = time.perf_counter()
        pane.status = "generating"
        changed.set()
        generate_streaming(model, prompt_ids, configure(budget), on_ids, stop)
        if pane.force_budget and not stop.is_set() and not (pane.ids and pane.ids[-1] in pane.eos_ids):
            if must_force(pane, tokenizer, budget):
                pane.forced_at = len(pane.ids)
                on_ids(lead_in_ids(tokenizer, default_lead_in(pane.model_name)))
                limit = len(pane.ids) + FORCE_ANSWER_TOKENS
            else:  # it closed its thinking within the budget: its own answer, up to max new tokens in all
                limit = settings.max_new_tokens
            if limit > len(pane.ids):
                generate_streaming(model, prompt_ids + pane.ids, configure(limit - len(pane.ids)), on_ids, stop)
        final_status = end_status(pane.ids, pane.eos_ids, limit, stop.is_set())
    except Exception as error:
        pane.error = error_message(error)
        final_status = "error"
    pane.ended_at = time.perf_counter()  # before the status: a done pane always has its end time
    pane.status = final_status
    changed.set()


def generate_streaming(model, input_ids: list[int], generation_config, on_ids, stop: threading.Event) -> None:
    """One `generate` call whose new ids go to `on_ids` as they come; the Stop flag ends it at the next token."""
    inputs = torch.tensor([input_ids], device=model.device)
    with torch.inference_mode():
        model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            generation_config=generation_config,
            streamer=IdStreamer(on_ids),
            stopping_criteria=StoppingCriteriaList([StopOnEvent(stop)]),
        )


def must_force(pane: Pane, tokenizer, budget: int) -> bool:
    """Whether the pane, having reached its budget without ending, has not closed its thinking either."""
    think_end = think_end_position(pane.ids, pane.decode, think_end_token_id(tokenizer))
    return needs_forcing(len(pane.ids), False, think_end, budget)


def sampling_config(
    model_config,
    settings: SamplingSettings,
    pad_token_id: int | None,
    eos_ids: tuple[int, ...],
    max_new_tokens: int | None = None,
):
    """The model's own generation config with the evaluation protocol's explicit values on top (as the evaluation
    harness sets them): temperature and top_p only, no top_k (vLLM has none), no repetition penalty. At most
    `max_new_tokens` (default: the settings')."""
    config = copy.deepcopy(model_config)
    sample = settings.temperature > 0
    config.max_new_tokens = max_new_tokens or settings.max_new_tokens
    config.do_sample = sample
    # Greedy takes the neutral values: None would be filled in again from the model's own sampling defaults.
    config.temperature = settings.temperature if sample else 1.0
    config.top_p = settings.top_p if sample else 1.0
    config.top_k = 0 if sample else None  # greedy ignores it; None keeps transformers from warning
    config.repetition_penalty = 1.0
    config.eos_token_id = list(eos_ids)
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    return config


def error_message(error: Exception) -> str:
    return str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"


def end_status(ids: list[int], eos_ids: tuple[int, ...], max_new_tokens: int, stopped: bool) -> str:
    if ids and ids[-1] in eos_ids:
        return "finished"
    if len(ids) >= max_new_tokens:
        return "limit"
    return "stopped" if stopped else "finished"


def stream_pair(
    panes: list[Pane],
    load: Callable,
    problem: str,
    settings: SamplingSettings,
    max_prompt_tokens: int,
    stop: threading.Event,
    min_interval_s: float = 0.05,
) -> Iterator[list[dict]]:
    """Run every pane in its own thread; yield snapshots of all panes as tokens arrive (at most every
    `min_interval_s`) and a last one once all are done. Closing the generator (the user left) stops the workers."""
    changed = threading.Event()
    # A pane that is already done (no checkpoint to run) keeps its message and gets no thread.
    threads = [
        threading.Thread(
            target=run_pane,
            args=(pane, load, problem, settings, max_prompt_tokens, stop, changed),
            name=f"demo-{pane.role}",
            daemon=True,
        )
        for pane in panes
        if not pane.done
    ]
    for thread in threads:
        thread.start()
    try:
        while True:
            changed.wait(timeout=0.5)
            changed.clear()
            all_done = all(pane.done for pane in panes)
            now = time.perf_counter()
            yield [pane.snapshot(now) for pane in panes]
            if all_done:
                return
            time.sleep(min_interval_s)
    finally:
        stop.set()
