import json

import pytest

from thinkprune.errors import UserError
from thinkprune.toy import build_tokenizer, make_problems, parse_operands
from train.data import EURUS_INSTRUCTION, build_round_dataset, hold_out, load_problems


def test_toy_problems_are_deterministic_disjoint_and_correct():
    train, test = make_problems("train", 300, 0), make_problems("test", 100, 0)
    assert make_problems("test", 100, 0) == test
    assert not {row["problem"] for row in train} & {row["problem"] for row in test}
    for row in train[:20]:
        assert int(row["answer"]) == sum(parse_operands(row["problem"]))


def test_local_jsonl_with_column_mapping(tmp_path):
    path = tmp_path / "aime.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"Q{i}", "final": i * 1.0, "x": i}) for i in range(5)) + "\n")
    problems = load_problems(str(path), problem_column="question", answer_column="final")
    assert problems[2] == {"problem": "Q2", "answer": "2.0"}
    with pytest.raises(UserError, match="no column 'problem'.*--problem_column"):
        load_problems(str(path))


def test_eurus_style_rows_with_messages_struct_answer_and_source_filter(tmp_path):
    rows = [
        {
            "data_source": source,
            "prompt": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": f"Find {i}." + EURUS_INSTRUCTION},
            ],
            "reward_model": {"style": "rule", "ground_truth": str(i)},
        }
        for i, source in enumerate(["numina_amc_aime", "numina_olympiads", "numina_amc_aime"])
    ]
    path = tmp_path / "eurus.parquet"
    from datasets import Dataset

    Dataset.from_list(rows).to_parquet(str(path))
    problems = load_problems(
        str(path), problem_column="prompt", answer_column="reward_model.ground_truth", data_source="numina_amc_aime"
    )
    assert [row["answer"] for row in problems] == ["0", "2"]
    assert problems[0]["problem"] == "Find 0." + EURUS_INSTRUCTION  # only the Eurus preset strips its suffix


def test_missing_dataset_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_problems(str(tmp_path / "nope.jsonl"))


def test_over_long_prompts_are_dropped_and_counted():
    from datasets import Dataset

    tokenizer = build_tokenizer()
    problems = Dataset.from_list(
        [{"problem": "What is 1 + 2?", "answer": "3"}, {"problem": "x " * 300, "answer": "1"}]
    )
    kept, dropped = build_round_dataset(problems, tokenizer, "plain", None, max_prompt_length=64)
    assert (len(kept), dropped) == (1, 1)
    assert kept[0]["prompt"][0]["content"].startswith("What is 1 + 2?")
    with pytest.raises(UserError, match="max_prompt_length"):
        build_round_dataset(problems, tokenizer, "plain", None, max_prompt_length=5)


def test_held_out_problems_are_the_last_rows_after_a_seeded_shuffle_and_never_trained_on():
    problems = load_problems("toy", num_problems=50, seed=0)
    train, held_out = hold_out(problems, 10, seed=42)
    assert (len(train), len(held_out)) == (40, 10)
    assert not set(train["problem"]) & set(held_out["problem"])
    assert held_out["problem"] == problems.shuffle(seed=42)["problem"][40:]
    assert hold_out(problems, 10, seed=42)[1]["problem"] == held_out["problem"]  # a round and its schedule agree
    unchanged, none = hold_out(problems, 0, seed=42)
    assert unchanged["problem"] == problems["problem"] and len(none) == 0
    with pytest.raises(UserError, match="cannot hold out 50 of 50 problems and still train on some"):
        hold_out(problems, 50, seed=42)
