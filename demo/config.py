"""Settings of the demo: which models to compare, generation defaults and serving limits.

Every value comes, in increasing priority, from the defaults below, a YAML file (`--config demo.yaml`, or
`$THINKPRUNE_DEMO_CONFIG`, or `demo_config.yaml` beside app.py as a deployed Space has), the environment
(`THINKPRUNE_DEMO_BASE`, `THINKPRUNE_DEMO_PRUNED` as a comma-separated list: Space variables) and the command line.
"""

import argparse
import math
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from thinkprune.errors import UserError
from thinkprune.paths import REPO_ROOT, TOY_CHECKPOINTS, TOY_OUTPUTS
from thinkprune.records import ROUND_RECORD
from thinkprune.toy import TOY_MAX_NEW_TOKENS, TOY_MODEL_NAME, TOY_RECORD


SPACE_CONFIG = REPO_ROOT / "demo_config.yaml"
ENV_PREFIX = "THINKPRUNE_DEMO_"


@dataclass
class DemoConfig:
    base: str = field(
        default=TOY_MODEL_NAME,
        metadata={"help": "The original long-thinker: 'toy', a local checkpoint or a Hub id."},
    )
    pruned: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Pruned checkpoints (local dirs or Hub ids), oldest round first; the last one is shown first. "
            "Default with the toy base: every outputs/toy/round*/ holding a round_record.json, else the round "
            "shipped in checkpoints/toy/."
        },
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": f"Initial max new tokens per model (default: {TOY_MAX_NEW_TOKENS} on the toy, else 4096)."},
    )
    max_new_tokens_limit: int | None = field(
        default=None,
        metadata={"help": "Upper end of the max-new-tokens slider (default: 1024 on the toy, else 32768)."},
    )
    temperature: float = field(default=0.6, metadata={"help": "Initial temperature (the evaluation protocol's)."})
    top_p: float = field(default=0.95, metadata={"help": "Initial top_p (the evaluation protocol's)."})
    max_problem_chars: int = field(default=4000, metadata={"help": "Longer problems are refused with a message."})
    max_prompt_tokens: int = field(default=1024, metadata={"help": "Longer prompts (after the template) are refused."})
    concurrency_limit: int = field(
        default=2, metadata={"help": "Comparisons generated at once (each runs both models); others wait in line."}
    )
    max_queue_size: int = field(default=16, metadata={"help": "Requests waiting beyond this are turned away."})
    max_seconds: int = field(
        default=600, metadata={"help": "A comparison running longer is stopped, so that nobody holds a slot for long."}
    )
    device: str = field(default="auto", metadata={"help": "'auto' (cuda when available), 'cpu', 'cuda', ..."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "'auto' (bfloat16 on GPU; on CPU bfloat16 for a half-precision checkpoint, else float32) or a "
            "torch dtype."
        },
    )
    zero_gpu_max_duration: int = field(
        default=120,
        metadata={"help": "ZeroGPU: the most GPU seconds one comparison asks for (charged to each visitor's quota)."},
    )
    zero_gpu_tokens_per_second: float = field(
        default=30.0,
        metadata={"help": "ZeroGPU: the generation speed assumed to size a comparison's GPU duration."},
    )
    server_name: str | None = field(
        default=None, metadata={"help": "Interface to serve on (default: gradio's, 127.0.0.1 or $GRADIO_SERVER_NAME)."}
    )
    server_port: int | None = field(default=None, metadata={"help": "Port (default: gradio's, 7860 or the next)."})
    share: bool = field(default=False, metadata={"help": "Also open a temporary public gradio.live link."})

    @property
    def is_toy(self) -> bool:
        """The embedded toy base, by name or as a copied checkpoint (a deployed Space bundles it)."""
        return self.base == TOY_MODEL_NAME or (Path(self.base) / TOY_RECORD).is_file()

    @property
    def initial_max_new_tokens(self) -> int:
        return min(self.max_new_tokens or (TOY_MAX_NEW_TOKENS if self.is_toy else 4096), self.tokens_limit)

    def zero_gpu_duration(self, max_new_tokens: int) -> int:
        """GPU seconds to ask ZeroGPU for a comparison: both panes generate at once, so the time of one response of
        `max_new_tokens` at the assumed speed, plus a margin for the prompt and the first tokens; capped."""
        return min(self.zero_gpu_max_duration, math.ceil(10 + max_new_tokens / self.zero_gpu_tokens_per_second))

    @property
    def tokens_limit(self) -> int:
        """The slider's upper end: the toy's context is 1024 tokens; real long-thinkers are evaluated at 32k."""
        return self.max_new_tokens_limit or (1024 if self.is_toy else 32768)


def toy_rounds(roots: tuple[Path, ...] = (TOY_OUTPUTS, TOY_CHECKPOINTS)) -> list[str]:
    """Finished toy rounds (`round<i>/` with a round record) in round order (round10 after round2): those of the
    first root that has any, so the user's own `outputs/toy` rounds win over the round shipped in checkpoints/."""
    for root in roots:
        rounds = [path for path in root.glob("round*") if re.fullmatch(r"round\d+", path.name)]
        finished = [path for path in rounds if (path / ROUND_RECORD).is_file()]
        if finished:
            return [str(path) for path in sorted(finished, key=lambda path: int(path.name.removeprefix("round")))]
    return []


def _env_values(environ) -> dict:
    values = {}
    if environ.get(ENV_PREFIX + "BASE"):
        values["base"] = environ[ENV_PREFIX + "BASE"]
    if environ.get(ENV_PREFIX + "PRUNED"):
        values["pruned"] = [name.strip() for name in environ[ENV_PREFIX + "PRUNED"].split(",") if name.strip()]
    return values


def _yaml_values(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"demo config file {path} does not exist: fix --config or THINKPRUNE_DEMO_CONFIG")
    values = yaml.safe_load(path.read_text()) or {}
    known = {f.name for f in fields(DemoConfig)}
    if not isinstance(values, dict) or set(values) - known:
        unknown = sorted(set(values) - known) if isinstance(values, dict) else values
        raise UserError(f"{path}: unknown demo settings {unknown}; known ones are {sorted(known)}")
    if isinstance(values.get("pruned"), str):
        values["pruned"] = [values["pruned"]]
    # Checkpoints given relative to the file (a deployed Space's models/...) work from any working directory.
    if "base" in values:
        values["base"] = _beside(path, values["base"])
    if "pruned" in values:
        values["pruned"] = [_beside(path, name) for name in values["pruned"]]
    return values


def _beside(config_file: Path, name: str) -> str:
    return str(config_file.parent / name) if (config_file.parent / name).is_dir() else name


def parse_config(
    argv: list[str] | None = None, environ=None, script_options: argparse.ArgumentParser | None = None
) -> DemoConfig:
    """Defaults < YAML file < environment < command line. A script that serves the demo passes the parser of its own
    options (already parsed, add_help=False), so that --help lists them with the demo's."""
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    parser = HfArgumentParser(DemoConfig, parents=[script_options] if script_options else [])
    parser.add_argument("--config", default=None, help="A YAML file of the settings below.")
    config_file = parser.parse_known_args(argv)[0].config or environ.get(ENV_PREFIX + "CONFIG")
    if config_file is None and SPACE_CONFIG.is_file():
        config_file = SPACE_CONFIG
    parser.set_defaults(**{**(_yaml_values(Path(config_file)) if config_file else {}), **_env_values(environ)})
    config, _ = parser.parse_args_into_dataclasses(argv)
    if config.base == TOY_MODEL_NAME and not config.pruned:
        config.pruned = toy_rounds()
    if min(config.concurrency_limit, config.max_queue_size, config.max_seconds, config.zero_gpu_max_duration) < 1:
        raise UserError("concurrency_limit, max_queue_size, max_seconds and zero_gpu_max_duration must be at least 1")
    return config
