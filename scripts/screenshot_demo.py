"""Serve the demo, run one example in a headless Chromium and save a screenshot of the page (docs/demo.png).

    python scripts/screenshot_demo.py --output docs/demo.png                  # the toy pair (needs its rounds)
    python scripts/screenshot_demo.py --output shot.png --base <id> --pruned <id> --example 2

Uses Debian's chromium (/usr/bin/chromium) through Python playwright; it never downloads a browser.
"""

import argparse
import re
import sys
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.config import parse_config
from demo.ui import benchmark_examples, free_port, launch, toy_examples
from thinkprune.errors import UserError, exit_on_user_error


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_example_in_browser(url: str, example: dict, screenshot: Path | None = None, timeout_s: float = 120) -> dict:
    """Open the page, pick `example`, press Run, wait until both panes are done; return what each pane shows."""
    from playwright.sync_api import expect, sync_playwright  # a development dependency, not the project's

    if not CHROMIUM.exists():
        raise UserError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.get_by_text(example["source"], exact=True).first.click()  # an example fills problem and answer
            expect(page.locator("#problem textarea")).to_have_value(example["problem"])
            page.locator("#run").click()
            # The verdict's final wording, whatever the outcome (while generating it says "generating").
            done = re.compile("original's tokens|No comparison|generated no token")
            expect(page.locator("#verdict")).to_contain_text(done, timeout=timeout_s * 1000)
            shown = {"verdict": page.locator("#verdict").inner_text()}
            for role in ("base", "pruned"):
                shown[role] = {
                    "stats": page.locator(f"#{role}-stats").inner_text(),
                    "thinking": page.locator(f"#{role}-thinking textarea").input_value(),
                    "answer": page.locator(f"#{role}-answer").inner_text(),
                }
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            return shown
        finally:
            browser.close()


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--output", type=Path, default=Path("docs/demo.png"), help="Where the screenshot is saved.")
    parser.add_argument("--example", type=int, default=0, help="Index of the example to run.")
    args, demo_args = parser.parse_known_args(argv)
    config = parse_config(demo_args + ["--server_port", str(free_port())], script_options=parser)
    examples = toy_examples() if config.is_toy else benchmark_examples()
    demo = launch(config, prevent_thread_lock=True, quiet=True)
    try:
        shown = run_example_in_browser(f"http://127.0.0.1:{config.server_port}/", examples[args.example], args.output)
    finally:
        demo.close()
    print(shown["verdict"])
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
