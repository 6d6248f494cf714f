"""The one grader: is the last `\\boxed{}` of a response equivalent to the gold answer?

Every part of the project (training reward, evaluation harness, demo) calls `grade`; never write another.

    from eval.grading import extract_answer, grade
    grade("... so the answer is $\\boxed{\\dfrac{1}{2}}$.", "0.5")  # True

Built on math-verify (parse + verify). math-verify bounds its own time with SIGALRM, which only works in the
main thread; elsewhere (Gradio handlers, async reward workers) it is called with its timeouts disabled and time
is bounded here instead: answers longer than `MAX_ANSWER_CHARS` are not parsed.
"""

import ast
import re
import threading
from fractions import Fraction

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify


MAX_ANSWER_CHARS = 500
MATH_VERIFY_TIMEOUT_S = 5

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def extract_answer(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` / `\\boxed ...` in `text`, or None (linear time)."""
    if not isinstance(text, str):
        return None
    start = max(text.rfind(command) for command in _BOX_COMMANDS)
    if start < 0:
        return None
    command = "\\boxed" if text.startswith("\\boxed", start) else "\\fbox"
    rest = start + len(command)
    if text.startswith("{", rest):
        depth = 0
        for index in range(rest, len(text)):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[rest + 1 : index].strip()
        return None  # unbalanced: the response was cut inside the box
    if text.startswith(" ", rest):
        # `\boxed 5$`: the answer runs to the end of the math span or line
        answer = re.split(r"[$\n]", text[rest + 1 :], maxsplit=1)[0].strip()
        return answer or None
    return None


def normalize_gold(gold) -> str:
    """Gold answers as benchmarks store them -> one LaTeX answer string.

    AMC23 stores integers as floats (`27.0`); OlympiadBench stores a list as a string (`"['$\\\\frac{1}{2}$']"`);
    several benchmarks wrap answers in `$...$`. This is the only place such storage quirks are undone.
    """
    if isinstance(gold, float) and gold.is_integer():
        gold = int(gold)
    if isinstance(gold, list | tuple):
        gold = ", ".join(str(item) for item in gold)
    text = str(gold).strip()
    if text.startswith("[") and text.endswith("]"):
        text = ", ".join(str(item) for item in _literal_list(text))
    text = re.sub(r"(?<!\\)\$", "", text).strip()
    if re.fullmatch(r"[+-]?\d+\.0+", text):
        text = text.split(".")[0]
    return text


def _literal_list(text: str) -> list:
    """`str(list)` of answers -> the list; `[text]` when it is not one (e.g. an interval `[0, 1]`)."""
    # A Python repr doubles backslashes; a hand-written list usually does not (`\frac` would become a form feed).
    source = text if "\\\\" in text else text.replace("\\", "\\\\")
    try:
        items = ast.literal_eval(source)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return [text]
    if isinstance(items, list) and items and all(isinstance(item, str) for item in items):
        return items
    return [text]


def _plain_number(text: str) -> Fraction | None:
    text = text.replace(",", "") if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", text) else text
    if len(text) > 100 or not _PLAIN_NUMBER.fullmatch(text):
        return None
    return Fraction(text)


def grade(response: str, gold) -> bool:
    """True iff the last boxed answer of `response` is equivalent to `gold`. Never raises; bounded time."""
    try:
        return _grade(response, gold)
    except Exception:
        return False


def _grade(response: str, gold) -> bool:
    answer = extract_answer(response)
    if answer is None:
        return False
    gold_text = normalize_gold(gold)
    if not answer or not gold_text or len(answer) > MAX_ANSWER_CHARS or len(gold_text) > MAX_ANSWER_CHARS:
        return False
    answer_number, gold_number = _plain_number(answer), _plain_number(gold_text)
    if answer_number is not None and gold_number is not None:
        return answer_number == gold_number
    if answer == gold_text:
        return True
    timeout = MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    parsed_gold = parse(f"\\boxed{{{gold_text}}}", extraction_config=config, parsing_timeout=timeout)
    parsed_answer = parse(f"\\boxed{{{answer}}}", extraction_config=config, parsing_timeout=timeout)
    return bool(verify(parsed_gold, parsed_answer, timeout_seconds=timeout))
