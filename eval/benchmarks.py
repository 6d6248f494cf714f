"""The benchmarks the harness knows, where they live, and how their columns map to {"problem", "answer"}.

Every benchmark loads from the Hub by default. A local copy (a .jsonl/.json/.parquet/.csv file or a dataset
directory) replaces the Hub source with `data_dir` (a folder holding e.g. `aime24.jsonl`, `minerva_math.jsonl`)
or `data_files` ("aime24=/path/to/aime.parquet,amc23=..."). Copies of one benchmark name their columns
differently, so each benchmark lists the columns it accepts, in order of preference:

    from eval.benchmarks import load_benchmark
    rows = load_benchmark("amc23", data_dir="data/benchmarks")  # [{"id", "problem", "answer"}, ...]

A problem's difficulty level, where the source has a `level` column (MATH500: 1..5, or "Level 3" in other copies of
MATH; the toy: 1..3), comes along as `level`, read as `eval.metrics.level_label` shows it ("3"): the reports give
pass@1 and length per level.

Gold answers are stored many ways (AMC23: the float 27.0; OlympiadBench: a list, or a list as a string;
MinervaMath: only inside the solution's `\\boxed{}`); `thinkprune.grading.normalize_gold` is the one place that undoes
such quirks.
"""

from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict, load_dataset

from eval.metrics import level_label
from thinkprune.errors import UserError
from thinkprune.grading import extract_answer, normalize_gold
from thinkprune.toy import make_problems


LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
ID_COLUMNS = ("id", "unique_id", "idx", "problem_id")
LEVEL_COLUMN = "level"
TOY_TEST_PROBLEMS = 200


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str | None
    hub_config: str | None
    split: str
    problem_columns: tuple[str, ...]
    answer_columns: tuple[str, ...]
    # Used when no answer column holds a value: the gold answer is the last \boxed{} of this column.
    solution_column: str | None
    # File stems (any of LOCAL_FORMATS) that hold this benchmark inside a `data_dir`.
    local_names: tuple[str, ...]
    # Samples per problem in the evaluation protocol (docs/evaluation.md): 64 for the small sets, 16 for the large ones.
    default_num_samples: int


BENCHMARKS = {
    "aime24": Benchmark(
        "aime24",
        "HuggingFaceH4/aime_2024",
        None,
        "train",
        ("problem", "question"),
        ("answer",),
        "solution",
        ("aime24", "aime_2024"),
        64,
    ),
    "amc23": Benchmark(
        "amc23",
        "math-ai/amc23",
        None,
        "test",
        ("problem", "question"),
        ("answer",),
        None,
        ("amc23",),
        64,
    ),
    "math500": Benchmark(
        "math500",
        "HuggingFaceH4/MATH-500",
        None,
        "test",
        ("problem",),
        ("answer",),
        "solution",
        ("math500", "math_500", "MATH-500"),
        16,
    ),
    "olympiadbench": Benchmark(
        "olympiadbench",
        "Hothan/OlympiadBench",
        "OE_TO_maths_en_COMP",
        "train",
        ("question", "problem"),
        ("final_answer", "answer"),
        None,
        ("olympiadbench", "olympiad_bench", "OE_TO_maths_en_COMP"),
        16,
    ),
    "minerva": Benchmark(
        "minerva",
        "math-ai/minervamath",
        None,
        "test",
        ("problem", "question"),
        ("answer",),
        "solution",
        ("minerva", "minerva_math", "minervamath"),
        16,
    ),
    # Held-out additions of the embedded toy model (thinkprune/toy.py): generated, never downloaded.
    "toy": Benchmark("toy", None, None, "test", ("problem",), ("answer",), None, (), 4),
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark {name!r}: use one or more of {', '.join(BENCHMARKS)} (comma-separated)")
    return BENCHMARKS[name]


def parse_mapping(text: str | None, option: str) -> dict[str, str]:
    """ "aime24=a.jsonl,amc23=b.parquet" -> {"aime24": "a.jsonl", ...}; names are checked against the registry."""
    mapping = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise UserError(f"bad {option} entry {item!r}: write BENCHMARK=VALUE, e.g. aime24=data/aime24.jsonl")
        mapping[get_benchmark(name.strip()).name] = value.strip()
    return mapping


def find_local_file(benchmark: Benchmark, data_dir: str) -> Path:
    directory = Path(data_dir)
    if not directory.is_dir():
        raise UserError(f"data_dir {data_dir} is not a directory: pass the folder holding the benchmark files")
    candidates = [directory / f"{stem}{suffix}" for stem in benchmark.local_names for suffix in LOCAL_FORMATS]
    for path in candidates + [directory / stem for stem in benchmark.local_names]:
        if path.exists():
            return path
    names = ", ".join(f"{stem}.jsonl" for stem in benchmark.local_names)
    raise UserError(
        f"no file for {benchmark.name} in {data_dir} (looked for {names} and other .json/.parquet/.csv): "
        f"add one, or pass data_files={benchmark.name}=PATH"
    )


def _load_rows(benchmark: Benchmark, path: Path | None) -> tuple[list[dict], str]:
    """The raw rows and a description of their source, for error messages and results.json."""
    try:
        if path is None:
            source = f"{benchmark.hub_id}" + (f" ({benchmark.hub_config})" if benchmark.hub_config else "")
            dataset = load_dataset(benchmark.hub_id, benchmark.hub_config, split=benchmark.split)
        elif path.is_dir():
            source = str(path)
            dataset = load_dataset(str(path))
            if isinstance(dataset, DatasetDict):
                split = benchmark.split if benchmark.split in dataset else next(iter(dataset))
                dataset = dataset[split]
        elif path.suffix in LOCAL_FORMATS:
            source = str(path)
            if not path.exists():
                raise UserError(f"benchmark file {path} does not exist: check data_files / data_dir")
            if not path.read_bytes().strip():
                raise UserError(f"benchmark file {path} is empty: pass a copy that has the problems")
            dataset = load_dataset(LOCAL_FORMATS[path.suffix], data_files=str(path), split="train")
        else:
            raise UserError(f"cannot read {path}: use a {'/'.join(LOCAL_FORMATS)} file or a dataset directory")
    except UserError:
        raise
    except Exception as error:
        where = f"the Hub ({source})" if path is None else source
        raise UserError(
            f"cannot load {benchmark.name} from {where}: {type(error).__name__}; without network, pass a local copy "
            f"with data_dir=DIR or data_files={benchmark.name}=PATH"
        ) from error
    return dataset.to_list(), source


def _first_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((column for column in candidates if column in columns), None)


def _gold(row: dict, answer_column: str | None, solution_column: str | None) -> str | None:
    value = row.get(answer_column) if answer_column else None
    if value is not None and normalize_gold(value):
        return normalize_gold(value)
    if solution_column and isinstance(row.get(solution_column), str):
        return extract_answer(row[solution_column])
    return None


def load_benchmark(
    name: str,
    data_dir: str | None = None,
    data_file: str | None = None,
    problem_column: str | None = None,
    answer_column: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """The benchmark's problems as [{"id", "problem", "answer"}] (and "level" where the source has one), in the
    source's order (the first `limit`)."""
    benchmark = get_benchmark(name)
    if benchmark.name == "toy":
        rows = [
            {"id": index, **row} | with_level(row)
            for index, row in enumerate(make_problems("test", TOY_TEST_PROBLEMS, seed=0))
        ]
        return rows[:limit] if limit is not None else rows

    path = Path(data_file) if data_file else find_local_file(benchmark, data_dir) if data_dir else None
    raw, source = _load_rows(benchmark, path)
    if not raw:
        raise UserError(f"{benchmark.name} from {source} has no rows: check the file or pass another one")
    columns = list(raw[0])
    problem_candidates = (problem_column,) if problem_column else benchmark.problem_columns
    answer_candidates = (answer_column,) if answer_column else benchmark.answer_columns
    problem_key = _first_column(columns, problem_candidates)
    answer_key = _first_column(columns, answer_candidates)
    solution_key = benchmark.solution_column if benchmark.solution_column in columns else None
    if problem_key is None:
        raise UserError(
            f"{benchmark.name} from {source} has no problem column ({' or '.join(problem_candidates)}; columns: "
            f"{', '.join(columns)}): pass problem_columns={benchmark.name}=COLUMN"
        )
    if answer_key is None and solution_key is None:
        raise UserError(
            f"{benchmark.name} from {source} has no answer column ({' or '.join(answer_candidates)}; columns: "
            f"{', '.join(columns)}): pass answer_columns={benchmark.name}=COLUMN"
        )

    id_key = _first_column(columns, ID_COLUMNS)
    rows = []
    for index, row in enumerate(raw):
        gold = _gold(row, answer_key, solution_key)
        if gold is None:
            raise UserError(
                f"{benchmark.name} from {source}: row {index} has no gold answer in {answer_key or solution_key!r}: "
                f"fix the file or pass answer_columns={benchmark.name}=COLUMN"
            )
        problem_id = row.get(id_key) if id_key else None
        rows.append(
            {"id": index if problem_id is None else problem_id, "problem": str(row[problem_key]), "answer": gold}
            | with_level(row)
        )
    return rows[:limit] if limit is not None else rows


def with_level(row: dict) -> dict:
    """{"level": "3"} for a source row with a difficulty level, {} for one without."""
    level = level_label(row.get(LEVEL_COLUMN))
    return {} if level is None else {"level": level}
