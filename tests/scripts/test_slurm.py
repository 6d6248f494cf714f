"""scripts/slurm/train.slurm --dry_run: the commands each node would run, and that the schedule takes them."""

import shlex
import subprocess
from pathlib import Path

import pytest

from train.schedule import machine_rank
from train.schedule import parse_args as parse_schedule_args


REPO_ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> dict[str, list[str]]:
    result = subprocess.run(
        ["bash", "scripts/slurm/train.slurm", "--dry_run", *args], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return {line.split(": ", 1)[0]: shlex.split(line.split(": ", 1)[1]) for line in result.stdout.splitlines()}


@pytest.mark.parametrize("nodes", [2, 4])
def test_every_node_runs_the_schedule_with_its_rank(nodes):
    commands = dry_run("--nodes", str(nodes))
    assert list(commands) == [f"node{i}" for i in range(nodes)]
    for rank, command in enumerate(commands.values()):
        assert command[:2] == ["python", "train/schedule.py"]
        config, extra = parse_schedule_args(command[2:])
        assert machine_rank(config) == rank and extra == []
        launch = shlex.split(config.launch_args)
        assert launch == [
            "--num_machines", str(nodes), "--num_processes", str(8 * nodes), "--machine_rank", str(rank),
            "--main_process_ip", "node0", "--main_process_port", "29500",
        ]  # fmt: skip
        assert config.accelerate_config == "recipes/accelerate_configs/zero2_multinode.yaml"
        assert config.token_limits == [4000, 3000, 2000]


def test_with_a_vllm_server_node_zero_serves_and_the_others_train():
    commands = dry_run("--nodes", "3", "--vllm_server", "--", "--max_steps", "5")
    assert commands["node0"] == [
        "trl", "vllm-serve", "--model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "--data_parallel_size", "8",
        "--max_model_len", "4768", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip
    for rank, host in enumerate(["node1", "node2"]):
        config, extra = parse_schedule_args(commands[host][2:])
        assert machine_rank(config) == rank
        assert "--num_processes 16" in config.launch_args and "--main_process_ip node1" in config.launch_args
        assert extra == ["--vllm_mode", "server", "--vllm_server_host", "node0", "--vllm_server_port", "8000"] + [
            "--max_steps",
            "5",
        ]


def test_the_server_context_holds_the_schedules_largest_limit(tmp_path):
    """Rounds take their limits from the schedule: a server sized by the recipe's own 4000 would cut a 6000 round."""
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "recipe: recipes/DeepSeek-R1-Distill-Qwen-1.5B/thinkprune.yaml\n"
        "model_name_or_path: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B\n"
        "token_limits: [3000, 6000, 2000]\n"
        "output_root: outputs/longer\n"
    )
    commands = dry_run("--nodes", "2", "--vllm_server", "--schedule", str(schedule))
    assert commands["node0"][commands["node0"].index("--max_model_len") + 1] == str(768 + 6000)


def test_the_server_context_holds_the_automatic_schedules_measuring_budget():
    """An automatic schedule chooses each limit from measurements, up to its measuring budget (R1's 32768): a server
    sized by the recipe's 4000 would cut its rounds' rollouts wherever the first limit came out longer."""
    commands = dry_run(
        "--nodes", "2", "--vllm_server", "--schedule", "recipes/DeepSeek-R1-Distill-Qwen-1.5B/schedule_auto.yaml"
    )  # fmt: skip
    assert commands["node0"][commands["node0"].index("--max_model_len") + 1] == str(768 + 32768)


@pytest.mark.parametrize(
    ("round_args", "context"),
    [(["--max_prompt_length", "1024"], 1024 + 4000), (["--token_limit=5000", "--max_steps", "5"], 768 + 5000)],
)
def test_the_server_context_holds_the_round_options_given_after_the_dashes(round_args, context):
    """Options after `--` come last on every round's command line: a longer prompt cap or limit there would have
    its rollouts ended by a server sized from the recipe alone."""
    commands = dry_run("--nodes", "2", "--vllm_server", "--", *round_args)
    assert commands["node0"][commands["node0"].index("--max_model_len") + 1] == str(context)


def test_a_server_needs_a_node_to_train_on():
    result = subprocess.run(
        ["bash", "scripts/slurm/train.slurm", "--dry_run", "--nodes", "1", "--vllm_server"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: --vllm_server needs at least 2 nodes")


def eval_dry_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/slurm/eval.slurm", "--dry_run", *args], cwd=REPO_ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize(("tensor_parallel_size", "processes_per_node"), [(1, 8), (2, 4)])
def test_evaluation_launches_one_engine_per_gpu_on_every_node(tensor_parallel_size, processes_per_node):
    result = eval_dry_run(
        "--nodes", "2", "--output_dir", "eval_results/base", "--tensor_parallel_size", str(tensor_parallel_size),
        "--", "--model", "outputs/r1/round1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = {line.split(": ", 1)[0]: shlex.split(line.split(": ", 1)[1]) for line in result.stdout.splitlines()}
    assert list(commands) == ["node0", "node1"]
    for rank, command in enumerate(commands.values()):
        assert command == [
            "accelerate", "launch", "--multi_gpu", "--num_machines", "2",
            "--num_processes", str(2 * processes_per_node), "--machine_rank", str(rank),
            "--main_process_ip", "node0", "--main_process_port", "29500",
            "eval/evaluate.py", "--config", "recipes/eval/r1_distill_protocol.yaml",
            "--output_dir", "eval_results/base", "--tensor_parallel_size", str(tensor_parallel_size),
            "--model", "outputs/r1/round1",
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: pass --output_dir DIR"),
        (["--output_dir", "x", "--tensor_parallel_size", "3"], "error: --tensor_parallel_size 3 does not divide"),
    ],
)
def test_evaluation_needs_a_shared_output_dir_and_whole_engines(args, message):
    result = eval_dry_run("--nodes", "2", *args)
    assert result.returncode == 2 and result.stderr.startswith(message)
