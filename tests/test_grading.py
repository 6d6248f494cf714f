"""The one grader: answer extraction, equivalences, and bounded time on adversarial input."""

import pytest

from eval.grading import extract_answer, grade, normalize_gold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{42}$.", "42"),
        (r"\boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\text{(A)} \{1\}}", r"\text{(A)} \{1\}"),
        (r"\fbox{7}", "7"),
        (r"$\boxed 5$", "5"),
        (r"no box here", None),
        (r"\boxed{12", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        (r"$\boxed{\dfrac{1}{2}}$", "0.5"),
        (r"\boxed{0.5}", r"\frac12"),
        (r"\boxed{30^\circ}", "30"),
        (r"\boxed{27}", "27.0"),
        (r"\boxed{\frac{1}{2}}", "['$\\\\frac{1}{2}$']"),
    ],
)
def test_equivalent(response, gold):
    assert grade(response, gold)


def test_not_equivalent():
    assert not grade(r"\boxed{3}", "4")
    assert not grade("4", "4")


def test_normalize_gold_amc_float():
    assert normalize_gold(27.0) == "27"
