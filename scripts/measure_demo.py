"""Measure how fast the demo answers: time from a request to the first tokens of both panes, alone and with two
users at once, through gradio_client against the app served locally (the same path a browser click takes).

    python scripts/measure_demo.py                                  # the toy pair, its first toy example
    python scripts/measure_demo.py --runs 10 --base <id> --pruned <id> --max_new_tokens 512
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.config import parse_config
from demo.ui import benchmark_examples, free_port, launch, toy_examples
from thinkprune.errors import exit_on_user_error


def timed_run(url: str, problem: str, pruned: str, max_new_tokens: int) -> dict:
    """One comparison: seconds to the first update with tokens in both panes, and to the end."""
    from gradio_client import Client  # a development dependency (the dev extra), not the project's

    client = Client(url, verbose=False)
    started = time.perf_counter()
    first = None
    for output in client.submit(problem, "", pruned, max_new_tokens, 0.6, 0.95, False, None, api_name="/compare"):
        result = output[-1]
        if first is None and result["base"]["num_tokens"] > 0 and result["pruned"]["num_tokens"] > 0:
            first = time.perf_counter() - started
    return {"first_tokens_s": first, "total_s": time.perf_counter() - started, "result": result}


def concurrent_runs(url: str, problem: str, pruned: str, max_new_tokens: int, users: int) -> list[dict]:
    runs = [None] * users

    def user(index: int) -> None:
        runs[index] = timed_run(url, problem, pruned, max_new_tokens)

    threads = [threading.Thread(target=user, args=(index,)) for index in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def describe(label: str, runs: list[dict]) -> str:
    firsts = [run["first_tokens_s"] for run in runs if run["first_tokens_s"] is not None]
    totals = [run["total_s"] for run in runs]
    return (
        f"{label}: first tokens of both panes after {statistics.median(firsts):.2f} s median, {max(firsts):.2f} s "
        f"max ({len(firsts)}/{len(runs)} runs streamed both); whole comparison {statistics.median(totals):.2f} s median"
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--runs", type=int, default=5, help="Comparisons per measurement.")
    parser.add_argument("--example", type=int, default=0, help="Index of the example problem.")
    args, demo_args = parser.parse_known_args(argv)
    config = parse_config(demo_args + ["--server_port", str(free_port())], script_options=parser)
    example = (toy_examples() if config.is_toy else benchmark_examples())[args.example]
    pruned = config.pruned[-1] if config.pruned else None
    demo = launch(config, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{config.server_port}/"
    try:
        timed_run(url, example["problem"], pruned, config.initial_max_new_tokens)  # warm-up, not counted
        alone = [timed_run(url, example["problem"], pruned, config.initial_max_new_tokens) for _ in range(args.runs)]
        together = [
            run
            for _ in range(args.runs)
            for run in concurrent_runs(url, example["problem"], pruned, config.initial_max_new_tokens, users=2)
        ]
    finally:
        demo.close()
    tokens = alone[-1]["result"]
    print(f"pair: {config.base} vs {pruned}; problem: {example['problem'][:60]!r}")
    print(f"tokens in the last run: original {tokens['base']['num_tokens']}, pruned {tokens['pruned']['num_tokens']}")
    print(describe("one user", alone))
    print(describe("two users at once", together))


if __name__ == "__main__":
    main()
