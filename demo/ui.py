"""The page: one problem, the original and the pruned model reasoning side by side, live token counts.

    python app.py                                   # the toy pair, offline
    python app.py --base deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
        --pruned Shiyu-Lab/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-iter2k
"""

import json
import socket
import sys
import threading
import time
from pathlib import Path

import gradio as gr

from demo.config import TOY_OUTPUTS, DemoConfig, parse_config
from demo.generation import Pane, SamplingSettings, stream_pair
from demo.models import ModelRegistry, describe, typical_tokens
from demo.summary import answer_markdown, comparison_markdown, is_correct, stats_markdown, token_ratio
from thinkprune.budget import FORCE_ANSWER_TOKENS
from thinkprune.errors import exit_on_user_error
from thinkprune.paths import REPO_ROOT
from thinkprune.toy import make_problems


# Every Gradio Space has the `spaces` package, whatever its hardware: on_zero_gpu() asks it which hardware this is.
try:
    import spaces.config  # binds `spaces`
except ImportError:
    spaces = None

EXAMPLES_FILE = Path(__file__).with_name("examples.jsonl")
# One held-out problem per level (levels come in turn).
NUM_TOY_EXAMPLES = 3
LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
]
CSS = """
.pane-title p { margin: 0; }
.verdict { font-size: 1.1em; }
"""


def benchmark_examples() -> list[dict]:
    """A few AIME 2024 / MATH-500 problems with their reference answers (public benchmark rows)."""
    return [json.loads(line) for line in EXAMPLES_FILE.read_text().splitlines() if line.strip()]


def toy_examples() -> list[dict]:
    """Held-out toy problems: the toy models never saw them in training."""
    return [dict(row, source=row["problem"]) for row in make_problems("test", NUM_TOY_EXAMPLES, seed=0)]


def no_pruned_message(config: DemoConfig) -> str:
    if config.is_toy:
        return (
            f"No pruned toy round found in `{TOY_OUTPUTS.relative_to(REPO_ROOT)}`: build them with `python train/schedule.py` "
            "(a few minutes on a laptop CPU), then restart this app."
        )
    return "No pruned checkpoint configured: pass `--pruned <checkpoint or Hub id>` (or set THINKPRUNE_DEMO_PRUNED)."


def pane_title(role: str, name: str | None, config: DemoConfig) -> str:
    if role == "base":
        return f"### Original long-thinker\n{describe(name)}"
    return f"### ThinkPrune-pruned\n{describe(name) if name else no_pruned_message(config)}"


def render(snapshots: list[dict], gold: str, summary: str | None = None) -> tuple:
    """Component values for (stats, thinking, answer) of each pane, the verdict and the raw JSON result."""
    base, pruned = snapshots
    outputs = []
    for snapshot in snapshots:
        outputs += [stats_markdown(snapshot), snapshot["thinking"], answer_markdown(snapshot, gold)]
    result = {
        "base": base,
        "pruned": pruned,
        "done": base["done"] and pruned["done"],
        "token_ratio": token_ratio(base["num_tokens"], pruned["num_tokens"])
        if base["done"] and pruned["done"]
        else None,
    }
    return (*outputs, summary if summary is not None else comparison_markdown(base, pruned, gold), result)


def refusal(message: str) -> tuple:
    """What the page shows for input it will not run: empty panes and the reason."""
    empty = {
        "status": "waiting",
        "done": True,
        "num_tokens": 0,
        "elapsed_s": 0.0,
        "tokens_per_s": 0.0,
        "thinking": "",
        "answer": "",
        "error": None,
        "correct": None,
    }
    return render([dict(empty, role="base"), dict(empty, role="pruned")], "", f"⚠ **{message}**")


def on_zero_gpu() -> bool:
    """Whether this runs on ZeroGPU hardware, where a GPU is attached only inside functions decorated with
    spaces.GPU: decided as the `spaces` package decides (its config reads SPACES_ZERO_GPU), since CPU and
    dedicated-GPU Spaces have the package too."""
    return spaces is not None and spaces.config.Config.zero_gpu


def build_demo(config: DemoConfig, registry: ModelRegistry) -> gr.Blocks:
    zero_gpu = on_zero_gpu()
    stop_events: dict[str, threading.Event] = {}  # per browser session: what its Stop button stops

    def compare(
        problem, gold, pruned_name, max_new_tokens, temperature, top_p, force, force_budget, request: gr.Request
    ):
        problem, gold = (problem or "").strip(), (gold or "").strip()
        if not problem:
            yield refusal("Type a math problem (or pick an example below), then press Run.")
            return
        if force and not (force_budget and force_budget >= 1):
            yield refusal("Give the token budget to force the original model at (at least 1), then press Run.")
            return
        if len(problem) > config.max_problem_chars:
            yield refusal(
                f"This problem is {len(problem):,} characters long; this demo takes up to "
                f"{config.max_problem_chars:,}. Shorten it and press Run again."
            )
            return
        settings = SamplingSettings(
            max_new_tokens=int(min(max(max_new_tokens, 1), config.tokens_limit)),
            temperature=float(min(max(temperature, 0.0), 2.0)),
            top_p=float(min(max(top_p, 0.01), 1.0)),
        )
        panes = [
            Pane("base", config.base, force_budget=int(force_budget) if force else None),
            Pane("pruned", pruned_name or None),
        ]
        if pruned_name is None:
            panes[1].status, panes[1].error = "error", no_pruned_message(config)
        stop = threading.Event()
        session = request.session_hash if request else None
        if session:
            stop_events[session] = stop
        started, verdict, marks = time.perf_counter(), None, {}
        deadline = config.max_seconds
        if zero_gpu:
            deadline = min(deadline, config.zero_gpu_duration(settings.max_new_tokens) - 5)
        try:
            for snapshots in stream_pair(panes, registry.get, problem, settings, config.max_prompt_tokens, stop):
                if verdict is None and time.perf_counter() - started > deadline:
                    stop.set()  # both workers end at their next token; the loop then ends as after Stop
                    verdict = f"Stopped at this demo's limit of {deadline} s per comparison."
                for snapshot in snapshots:  # graded once, when the pane is done
                    if snapshot["done"] and snapshot["role"] not in marks:
                        marks[snapshot["role"]] = is_correct(snapshot, gold)
                    snapshot["correct"] = marks.get(snapshot["role"])
                yield render(snapshots, gold, verdict and f"{comparison_markdown(*snapshots, gold)}\n\n{verdict}")
        finally:
            if session and stop_events.get(session) is stop:
                del stop_events[session]

    def stop_generation(request: gr.Request):
        if request and request.session_hash in stop_events:
            stop_events[request.session_hash].set()

    if zero_gpu:
        # ZeroGPU charges the duration asked for against each visitor's quota and refuses more than it grants: ask
        # for what this comparison's max_new_tokens needs, capped (the handler stops itself before that runs out).
        compare = spaces.GPU(duration=lambda *args, **kwargs: config.zero_gpu_duration(int(args[3])))(compare)

    default_pruned = config.pruned[-1] if config.pruned else None
    with gr.Blocks(title="ThinkPrune: original vs pruned reasoning") as demo:
        gr.Markdown(
            "# ThinkPrune: the same problem, the original and the pruned long-thinker side by side\n"
            "Both models reason about your problem **at the same time**. ThinkPrune trained the pruned one with "
            "reinforcement learning under a hard token limit (reward only for a finished, correct answer), so "
            "it learned to stop over-thinking. Token counts are the exact number of generated tokens."
        )
        with gr.Row():
            with gr.Column(scale=3):
                problem = gr.Textbox(label="Problem", lines=4, placeholder="Type a math problem…", elem_id="problem")
                gold = gr.Textbox(
                    label="Reference answer (optional: enables the correct / incorrect marks)", elem_id="gold"
                )
                with gr.Row():
                    run = gr.Button("Run both", variant="primary", elem_id="run")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
            with gr.Column(scale=2):
                pruned_choice = gr.Dropdown(
                    choices=[(describe(name).replace("`", ""), name) for name in config.pruned],
                    value=default_pruned,
                    label="Pruned round",
                    visible=len(config.pruned) > 1,
                    elem_id="round",
                )
                max_new_tokens = gr.Slider(
                    1,
                    config.tokens_limit,
                    value=config.initial_max_new_tokens,
                    step=1,
                    label="Max new tokens (per model)",
                )
                with gr.Accordion("Budget forcing of the original (the free baseline)", open=False):
                    force = gr.Checkbox(
                        label="Force the original to answer at a token budget: its thinking is closed there and "
                        f"it answers in at most {FORCE_ANSWER_TOKENS} more tokens (s1's budget forcing)",
                        value=False,
                        elem_id="force",
                    )
                    force_budget = gr.Number(
                        value=typical_tokens(default_pruned),
                        label="Budget (tokens; default: what the pruned round typically writes)",
                        precision=0,
                        minimum=1,
                        elem_id="force-budget",
                    )
                with gr.Accordion("Sampling (evaluation defaults)", open=False):
                    temperature = gr.Slider(
                        0.0, 1.5, value=config.temperature, step=0.05, label="Temperature (0 = greedy)"
                    )
                    top_p = gr.Slider(0.05, 1.0, value=config.top_p, step=0.05, label="Top-p")

        toy, benchmark = toy_examples(), benchmark_examples()
        example_sets = [
            ("Toy problems (what the toy models were trained on)", toy),
            ("Benchmark problems: AIME 2024 and MATH-500", benchmark),
        ]
        for label, rows in example_sets if config.is_toy else example_sets[::-1]:
            gr.Examples(
                examples=[[row["problem"], row["answer"]] for row in rows],
                inputs=[problem, gold],
                example_labels=[row["source"] for row in rows],
                label=label,
            )

        verdict = gr.Markdown(elem_id="verdict", elem_classes="verdict", latex_delimiters=LATEX)
        outputs = []
        with gr.Row(equal_height=False):
            for role, name in (("base", config.base), ("pruned", default_pruned)):
                with gr.Column(variant="panel"):
                    title = gr.Markdown(pane_title(role, name, config), elem_classes="pane-title")
                    stats = gr.Markdown("**0 tokens**", elem_id=f"{role}-stats")
                    with gr.Accordion("Thinking", open=True):
                        thinking = gr.Textbox(
                            show_label=False,
                            lines=12,
                            max_lines=12,
                            autoscroll=True,
                            interactive=False,
                            elem_id=f"{role}-thinking",
                        )
                    gr.Markdown("**Final answer**")
                    answer = gr.Markdown(
                        elem_id=f"{role}-answer",
                        latex_delimiters=LATEX,
                    )
                    outputs += [stats, thinking, answer]
                    if role == "pruned":
                        pruned_title = title
        result = gr.JSON(visible=False)

        pruned_choice.change(
            lambda name: (pane_title("pruned", name, config), typical_tokens(name)),
            pruned_choice,
            [pruned_title, force_budget],
            queue=False,
            api_visibility="private",
        )
        run_event = run.click(
            compare,
            inputs=[problem, gold, pruned_choice, max_new_tokens, temperature, top_p, force, force_budget],
            outputs=[*outputs, verdict, result],
            api_name="compare",
            concurrency_limit=config.concurrency_limit,
            concurrency_id="generate",
            show_progress="hidden",
        )
        # The flag stops both workers at their next token. On ZeroGPU the handler runs in another process that
        # the flag cannot reach, so there Stop cancels the event instead.
        stop.click(
            stop_generation,
            None,
            None,
            queue=False,
            api_name="stop",
            cancels=[run_event] if zero_gpu else None,
        )
    demo.queue(max_size=config.max_queue_size, default_concurrency_limit=config.concurrency_limit)
    return demo


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for scripts and tests that serve the app next to something else)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(config: DemoConfig, registry: ModelRegistry | None = None, **launch_kwargs) -> gr.Blocks:
    """Load every configured model (so any click streams at once), build the page and serve it."""
    registry = registry or ModelRegistry(config.device, config.dtype)
    # Every round at startup: on ZeroGPU nothing should load inside the (quota-charged) GPU function.
    names = [config.base, *config.pruned]
    # A ZeroGPU Space has no GPU until a request holds one, and a GPU slice larger than any dedicated one then.
    if not on_zero_gpu():
        registry.check_memory(names)
    for name, error in registry.preload(names).items():
        print(f"warning: could not load {name} ({error}); its pane will show the error", file=sys.stderr)
    demo = build_demo(config, registry)
    kwargs = dict(
        server_name=config.server_name,
        server_port=config.server_port,
        share=config.share,
        theme=gr.themes.Soft(),
        css=CSS,
    )
    demo.launch(**{**kwargs, **launch_kwargs})
    return demo


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    launch(parse_config(argv))
