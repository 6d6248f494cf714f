"""README.md and docs/: every relative link, anchor and repository path resolves; LICENSE and CITATION.cff agree with
pyproject.toml."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml


REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
# A repository path in prose or a command: a known top-level folder, then a file with an extension or a folder ending
# in "/". Not after a word, "/", "<" or "~": `<round>/eval/results.json` lives in a round's directory, not here;
# `thinkprune/accuracy` is a metric name.
TOP_LEVEL = "recipes|scripts|train|eval|demo|docs|model_cards|thinkprune|tests|results|checkpoints|\\.ci"
REPO_PATH = re.compile(rf"(?<![\w/.~<$-])(?:{TOP_LEVEL})/(?:[\w.-]+/)*(?:[\w-]+\.\w+|(?<=/)(?!\w))")


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def outside_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(markdown: Path) -> set[str]:
    """The heading anchors GitHub gives a Markdown file: lower case, punctuation dropped, spaces as hyphens, and
    -1, -2... after a repeated heading."""
    seen: dict[str, int] = {}
    found = set()
    for line in outside_fences(markdown.read_text()):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
            found.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
    return found


def broken_links(markdown: Path) -> list[str]:
    broken = []
    for target in LINK.findall(markdown.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (markdown.parent / path).resolve() if path else markdown
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    return broken


@pytest.mark.parametrize("markdown", DOCS, ids=relative)
def test_relative_links_and_their_anchors_resolve(markdown):
    assert broken_links(markdown) == []


@pytest.mark.parametrize("markdown", DOCS, ids=relative)
def test_repository_paths_named_in_the_text_exist(markdown):
    named = set(REPO_PATH.findall(markdown.read_text()))
    assert sorted(path for path in named if not (REPO_ROOT / path).exists()) == []


def test_the_checks_see_a_broken_link_a_broken_anchor_and_a_missing_path(tmp_path):
    (tmp_path / "other.md").write_text("# Some title: here\n\n```bash\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#some-title-here) [gone](missing.md) [bad anchor](other.md#not-a-heading) "
        "[web](https://example.com) see `recipes/toy/no_such.yaml` and `recipes/toy/round.yaml`, `thinkprune/accuracy`"
    )
    assert broken_links(page) == ["missing.md", "other.md#not-a-heading"]
    assert REPO_PATH.findall(page.read_text()) == ["recipes/toy/no_such.yaml", "recipes/toy/round.yaml"]


def test_license_and_citation_match_the_package_metadata():
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert license_text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in license_text
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert project["license"] == {"text": "Apache-2.0"} and citation["license"] == "Apache-2.0"
    assert citation["cff-version"] == "1.2.0" and project["version"] == citation["version"]
    (paper,) = citation["references"]
    assert paper["title"] == "ThinkPrune: Pruning Long Chain-of-Thought of LLMs via Reinforcement Learning"
    assert [author["family-names"] for author in paper["authors"]][0] == "Hou" and paper["year"] == 2025
    assert {"type": "other", "value": "arXiv:2504.01296"} in paper["identifiers"]


def test_the_readme_is_read_in_five_minutes_with_the_first_commands_on_its_first_screen():
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, "README.md grew past 250 lines: move the detail to docs/ or results/"
    first_screen = "\n".join(lines[:40])
    for command in ('pip install -e ".[dev]"', "make test", "python app.py"):
        assert command in first_screen, f"{command!r} is not on the README's first screen"


def test_the_measured_timings_the_docs_state_are_those_their_files_hold():
    """A re-measurement rewrites the file; this fails until the prose that quotes it says the new figures."""
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    throughput = json.loads((REPO_ROOT / "results/eval_throughput/data_parallel.json").read_text())
    seconds = throughput["seconds"]
    assert f"{throughput['speedup_2_processes']:.2f}× faster" in readme
    assert f"({seconds['2 processes x 1 thread']:.1f} s against {seconds['1 process x 2 threads']:.1f} s" in readme
    runs = {side: f"{min(values):.1f}-{max(values):.1f} s" for side, values in throughput["seconds_all"].items()}
    assert f"runs {runs['2 processes x 1 thread']} and {runs['1 process x 2 threads']}" in readme

    evaluation = " ".join((REPO_ROOT / "docs/evaluation.md").read_text().split())
    harness = {
        size: json.loads((REPO_ROOT / f"results/eval_throughput/harness-{size}.json").read_text())
        for size in (64, 256)
    }
    assert (
        f"{harness[64]['ratio_wall']:.2f}× as many per second in batches of 64 and "
        f"{harness[256]['ratio_wall']:.2f}× in batches of 256" in evaluation
    )
    spans = []
    for report in harness.values():
        ratios = [bare / timed for bare, timed in zip(report["bare_seconds"], report["harness_seconds"])]
        spans.append(f"{min(ratios):.2f}-{max(ratios):.2f}×")
    assert f"repeats {spans[0]} and {spans[1]}" in evaluation

    scaling = " ".join((REPO_ROOT / "docs/scaling.md").read_text().split())
    overhead = json.loads((REPO_ROOT / "results/overhead/overhead.json").read_text())["summary"]
    wall, cpu = overhead["ratio_wall_range"], overhead["ratio_cpu_range"]
    assert f"{overhead['ratio_wall']:.3f}× the bare trl run's wall-clock time" in scaling
    assert (
        f"{wall['min']:.3f}×-{wall['max']:.3f}×" in scaling and f"{overhead['ratio_cpu']:.3f}× its CPU time" in scaling
    )
    assert f"({cpu['min']:.3f}×-{cpu['max']:.3f}×)" in scaling


def test_the_recipe_readmes_figures_are_those_of_the_runs_that_measured_them():
    """The toy recipe's expected numbers come from the study's summary.json, the R1 recipe's dry run from cpu.json."""
    toy_readme = " ".join((REPO_ROOT / "recipes/toy/README.md").read_text().split())
    summary = json.loads((REPO_ROOT / "results/toy/summary.json").read_text())
    for row in summary["rows"][1:]:
        cells = f"| {row['token_limit']} | {100 * row['pass@1']:.1f}% | {row['mean_tokens']:.1f} |"
        assert f"{cells} {row['train_seconds']:.0f} s |" in toy_readme, row["run"]
    assert f"took {summary['study_seconds']:.0f} s and the ablations {summary['ablation_seconds']:.0f} s more" in (
        toy_readme
    )

    base_ratio = next(p for p in summary["testbed"] if p["criterion"].startswith("mean response"))["measured"]
    base_ratio = base_ratio.split(" = ")[1].replace("x", "×")
    assert f"the shipped base gives {base_ratio}" in toy_readme
    assert f"It over-thinks {base_ratio} its shortest correct responses" in " ".join(
        (REPO_ROOT / "README.md").read_text().split()
    )
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    timings = [json.loads(p.read_text()) for p in sorted((REPO_ROOT / "results/toy/quick_start").glob("torch-*.json"))]
    assert timings, "the Quick start round's timings are measured by scripts/time_quick_start.py"
    for timing in timings:
        summary_of_runs, span = timing["summary"], timing["summary"]["train_seconds_range"]
        stated = (
            f"median {summary_of_runs['median_train_seconds']:.0f} s ({span['min']:.0f}-{span['max']:.0f} s, "
            f"{len(timing['runs'])} runs) with torch {timing['torch']}"
        )
        assert stated in toy_readme and stated in readme, stated
    too_tight = next(r for r in summary["limit_reach"] if r["run"].startswith("a too-tight final limit"))
    assert (
        f"{too_tight['token_limit']} tokens, {100 * too_tight['levels']['3']:.1f}% of the parent's level-3"
        in toy_readme
    )
    pruned = [r for r in summary["levels"] if r["level"] == "3" and r["run"] != "base"]
    floor = {f"{r['mean_tokens']:.1f}" for r in pruned if r["mean_rechecks"] < 0.05}
    assert len(floor) == 1, "the one-pass floor is one length: the prose says so"
    at_floor = sum(r["mean_rechecks"] < 0.05 for r in pruned)
    assert (
        f"{at_floor} of the {len(pruned)} pruned models make fewer than 0.05 re-checks per response, and all "
        f"{at_floor} average {floor.pop()}" in (toy_readme)
    )
    for path in sorted((REPO_ROOT / "results/toy/mix_pilots").glob("*.json")):
        pilot = json.loads(path.read_text())
        measured = {p["criterion"]: p["measured"] for p in pilot["testbed"]}
        ratio = measured["mean response at least twice the mean shortest correct response"].split(" = ")[1]
        boxes = measured["hardest level: the last box is right at least 5 points more often than the first"]
        boxes = boxes.removeprefix("first ").split(" (")[0].replace("last ", "")
        assert f"| {100 * pilot['pass@1']:.1f}% | {ratio} | {boxes} |" in toy_readme, path.name

    r1_readme = " ".join((REPO_ROOT / "recipes/DeepSeek-R1-Distill-Qwen-1.5B/README.md").read_text().split())
    measured = json.loads((REPO_ROOT / "results/dry_run/cpu.json").read_text())["measured"]
    assert f"{measured['tokens_generated']:,} tokens, step {measured['step_seconds']:.0f} s" in r1_readme
    assert f"peak memory {measured['peak_rss_mb'] / 1000:.1f} GB" in r1_readme


def test_the_draws_and_seeds_the_toy_recipe_states_are_those_their_runs_measured():
    """The current draw of the sampled schedules comes from the study's summary.json, the seed repeats from
    results/toy/seeds/summary.json: a re-run rewrites them, and this fails until the prose follows."""
    from eval.results import percent_change
    from scripts.toy_study import guard_fired

    toy_readme = " ".join((REPO_ROOT / "recipes/toy/README.md").read_text().split())
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    summary = json.loads((REPO_ROOT / "results/toy/summary.json").read_text())

    def against_fixed(row: dict) -> str:
        return percent_change({"pass@1_change": row["vs_schedule"], "pass@1_change_ci": row["vs_schedule_ci"]})

    ablations = {row["run"].split(" (")[0]: row for row in summary["ablations"]}
    levels = {(row["run"], row["level"]): row for row in summary["levels"]}
    difficulty, automatic = ablations["difficulty-aware limits"], ablations["automatic schedule"]
    limits = automatic["run"].split(" (")[1].rstrip(")")
    this_draw = (
        f"| a seed per response (this run) | {100 * difficulty['pass@1']:.1f}%, {against_fixed(difficulty)} "
        f"| {against_fixed(levels['difficulty-aware limits', '1'])} "
        f"| {against_fixed(levels['difficulty-aware limits', '3'])} | {limits} "
        f"| {100 * automatic['pass@1']:.1f}%, {against_fixed(automatic)} |"
    )
    assert this_draw in toy_readme

    seeds = json.loads((REPO_ROOT / "results/toy/seeds/summary.json").read_text())

    def and_join(items: list[str]) -> str:
        return ", ".join(items[:-1]) + f" and {items[-1]}"

    def seed_change(row: dict, variant: str) -> str:
        change = row["changes"][variant]
        return percent_change({"pass@1_change": change["change"], "pass@1_change_ci": change["change_ci"]})

    for variant, counts in seeds["tally"].items():
        change = {row["seed"]: seed_change(row, variant) for row in seeds["seeds"]}
        assert and_join([f"{change[seed]} at seed {seed}" for seed in change]) in toy_readme, variant
        assert f"(mean {100 * counts['mean_change']:+.1f} points)" in toy_readme, variant
        if variant == "one round at the final limit":
            others = [seed for seed in change if seed != 42]
            assert (
                f"came out {and_join([change[seed] for seed in others])} points with training seeds "
                f"{and_join([str(seed) for seed in others])}" in readme
            )
    for row in seeds["seeds"]:
        seconds = sum(run["train_seconds"] for run in row["runs"].values())
        assert f"{seconds:.0f} s for seed {row['seed']}" in toy_readme
    seed_1 = next(row for row in seeds["seeds"] if row["seed"] == 1)
    assert (
        f"batch scaling + clip-higher lost {seed_change(seed_1, 'batch reward scaling + clip-higher')} points"
        in readme
    )
    decisions = [row["runs"]["automatic schedule"]["automatic"] for row in seeds["seeds"]]
    limits = ", ".join(" → ".join(map(str, auto["token_limits"])) for auto in decisions)
    assert f"limits of its own at each ({limits} tokens)" in toy_readme
    fired = sum(guard_fired(auto) for auto in decisions)
    assert f"Its accuracy guard fired at {fired or 'none'}" in toy_readme


def test_the_dynamic_sampling_figures_in_the_docs_are_those_the_study_measured():
    """docs/training.md and the README state the dynamic sampling study at every seed (results/toy/dynamic_sampling:
    seeds.json, the recipe's seed's summary.json, seed<N>/summary.json): a re-run rewrites them, and this fails
    until the prose follows."""
    from eval.results import percent_change

    training = " ".join((REPO_ROOT / "docs/training.md").read_text().split())
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    folder = REPO_ROOT / "results/toy/dynamic_sampling"
    seeds = json.loads((folder / "seeds.json").read_text())
    studies = [
        json.loads((folder / ("summary.json" if seed == 42 else f"seed{seed}/summary.json")).read_text())
        for seed in seeds["seeds"]
    ]
    rows = [{row["variant"]: row for row in study["rows"]} for study in studies]
    assert " / ".join(map(str, seeds["seeds"])) in training and f"at none of {len(studies)} training seeds" in training
    plain_pass = [f"{100 * seed_rows['plain GRPO']['pass@1']:.1f}%" for seed_rows in rows]
    assert f"against plain GRPO ({', '.join(plain_pass[:-1])} and {plain_pass[-1]})" in training
    for variant, name in [
        ("offline filter", "offline filter"),
        ("dynamic sampling", "dynamic sampling"),
        ("filter + dynamic sampling", "both"),
    ]:
        changes = " / ".join(percent_change(seed_rows[variant]) for seed_rows in rows)
        assert f"{name} {changes} (mean {100 * seeds['tally'][variant]['mean_change']:+.1f})" in training
    steps = {
        variant: [str(sum(seed_rows[variant]["training"]["steps"])) for seed_rows in rows]
        for variant in ("dynamic sampling", "plain GRPO")
    }
    assert (
        f"({', '.join(steps['dynamic sampling'][:-1])} and {steps['dynamic sampling'][-1]} against plain GRPO's "
        f"{', '.join(steps['plain GRPO'][:-1])} and {steps['plain GRPO'][-1]})" in training
    )
    # The verdict: no variant beat plain GRPO at any seed (no interval above 0), and which lost where.
    never_won = all(tally["above"] == 0 for tally in seeds["tally"].values())
    verdict = f"neither nor both beat plain GRPO at any of {len(studies)} training seeds"
    assert never_won == (verdict in readme) == ("did either option, or both, beat plain GRPO" in training)
    losses = {variant: tally["below"] for variant, tally in seeds["tally"].items()}
    assert (losses["offline filter"], losses["filter + dynamic sampling"], losses["dynamic sampling"]) == (1, 1, 0)
    assert "the filter and the two together lost measurably at one seed each, dynamic sampling at none" in training
