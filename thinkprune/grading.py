"""The one grader: is the last `\\boxed{}` of a response equivalent to the gold answer?

Every part of the project (training reward, evaluation harness, demo) calls `grade`; never write another.

    from thinkprune.grading import extract_answer, grade
    grade("... so the answer is $\\boxed{\\dfrac{1}{2}}$.", "0.5")  # True

How a verdict is reached, cheapest first:
1. `extract_answer` takes the content of the last `\\boxed{...}` (or `\\fbox{...}`, `\\boxed 5`); no box -> False.
2. `normalize_gold` undoes how benchmarks store answers (AMC23's `27.0`, OlympiadBench's list-as-string,
   `$...$` wrappers). Gold normalisation lives here and nowhere else: callers pass the stored value as is.
3. Both sides plain numbers (`42`, `-0.5`, `1,000`, `1.04e-3`) -> exact rational comparison, no sympy (~10 us).
   The training reward grades thousands of completions per step and most answers are integers.
4. Otherwise math-verify (`parse` + `verify`, ~5-50 ms) decides: fractions, `\\dfrac`, degrees, percent, units in
   `\\text{}`, intervals, ordered tuples, unordered lists and sets, equations (`x = 5` vs `5`), symbolic equality.
   Decimals must match to 6 places (`0.8095` is not 17/21) and a percent is not its fraction (`0.02` is not `2`).

Bounded time and thread safety: math-verify's own timeouts use SIGALRM, which only works in the main thread (and
would cancel a caller's alarm), so they are always disabled and time is bounded here instead, the same way in every
thread (trl's reward path, evaluation workers, Gradio handlers, async reward workers):
- answers over `MAX_ANSWER_CHARS` and expressions whose evaluation could blow up inside one C call (power towers,
  integers over `MAX_DIGITS` digits from powers / factorials / binomials, sums, products, integrals, limits, deep
  nesting, logarithms beside huge numbers) never reach sympy: they only count when they equal the gold answer as
  strings (`_too_costly`, `_log_of_huge_power`);
- everything else runs under a `GRADE_TIMEOUT_S` deadline enforced by a watchdog thread (`_call_with_deadline`),
  which also stops slow symbolic simplifications such as `(a+b+c+d+e)^{30}` against `1`.
`grade` never raises: any failure is a False verdict.
"""

import ast
import ctypes
import logging
import math
import re
import threading
from fractions import Fraction

from math_verify import LatexExtractionConfig, parse, verify
from sympy import Basic, MatrixBase, Symbol


MAX_ANSWER_CHARS = 300
GRADE_TIMEOUT_S = 2.0
# Limits of the cost guard; real answers stay far below them (gold answers of MATH500, AIME, AMC, Minerva and
# OlympiadBench: at most 7 `^`, no nested exponent, no exponent literal above 2024, braces nested 4 deep).
MAX_DIGITS = 1000  # sympy's square root of a 1000-digit integer takes ~0.3 s, of a 3000-digit one ~12 s
MAX_EXPONENT = 10_000
MAX_POWERS = 30
MAX_NESTING = 30

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# e-notation exponents stay small: `1e100000000` as an exact Fraction would take forever
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?")
_SCIENTIFIC = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)[eE]([+-]?\d{1,3})(?![\w.])")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNBOUNDED = re.compile(
    r"\\(sum|prod|int|iint|iiint|oint|lim|coprod|bigcup|bigcap)(?![a-zA-Z])|!!|\\uparrow|factorial|binomial"
)
_LOGARITHM = re.compile(r"\\(log|ln|lg)(?![a-zA-Z])")
_LATEX_CONFIG = [LatexExtractionConfig(boxed_match_priority=0)]


class _DropTimeoutDisabledWarning(logging.Filter):
    """math-verify warns once that its timeouts are disabled; here that is deliberate (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


for _logger_name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_logger_name).addFilter(_DropTimeoutDisabledWarning())


class _Deadline(BaseException):
    """Raised into the grading thread by the watchdog; a BaseException, so `except Exception` in sympy lets it out."""


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
        end = _closing_brace(text, rest)
        return None if end is None else text[rest + 1 : end].strip()  # None: cut inside the box
    if text.startswith(" ", rest):
        # `\boxed 5$`: the answer runs to the end of the math span or line
        answer = re.split(r"[$\n]", text[rest + 1 :], maxsplit=1)[0].strip()
        return answer or None
    return None


def _closing_brace(text: str, open_index: int) -> int | None:
    depth = 0
    for index in range(open_index, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def normalize_gold(gold) -> str:
    """A gold answer as a benchmark stores it -> one LaTeX answer string.

    - AMC23 stores integers as floats: `27.0` (float or string) -> `27`;
    - OlympiadBench stores a list of answers, as a list or as its string (`"['$\\\\frac{1}{2}$']"`, also with
      single backslashes) -> the items joined by `, ` (math-verify grades such a list in any order);
    - `$...$` wrappers are dropped (an escaped `\\$` is kept).
    """
    if gold is None:
        return ""
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
    """`str(list)` of answers -> the list; `[text]` when it is not one (e.g. the interval `[0, 1]`)."""
    # A Python repr doubles backslashes; a hand-written list does not (and `\frac` would read as a form feed).
    source = text if "\\\\" in text else text.replace("\\", "\\\\")
    try:
        items = ast.literal_eval(source)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return [text]
    if isinstance(items, list) and items and all(isinstance(item, str) for item in items):
        return items
    return [text]


def _plain_number(text: str) -> Fraction | None:
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    return Fraction(text)


def _literal_bound(text: str) -> float:
    """An upper bound of the value of an expression built from +, -, *, / on the numbers it contains."""
    bound = 1.0
    for number in _NUMBER.findall(text):
        bound *= max(1.0, float(number))
    return bound


def _group_after(text: str, index: int) -> tuple[str, int]:
    """The argument starting at `index`: a braced group, a parenthesised group or one token; and its end."""
    while index < len(text) and text[index] == " ":
        index += 1
    if index >= len(text):
        return "", index
    if text[index] in "{(":
        depth = 0
        for end in range(index, len(text)):
            depth += text[end] in "{("
            depth -= text[end] in "})"
            if depth == 0:
                return text[index + 1 : end], end + 1
        return text[index + 1 :], len(text)
    match = re.match(r"\\[a-zA-Z]+|\d+(\.\d+)?|.", text[index:])
    return match.group(0), index + match.end()


def _group_before(text: str, index: int) -> str:
    """The operand ending just before `index`: a braced or parenthesised group, or a number / letter run."""
    end = index
    while end > 0 and text[end - 1] == " ":
        end -= 1
    if end == 0:
        return ""
    if text[end - 1] in "})":
        depth = 0
        for start in range(end - 1, -1, -1):
            depth += text[start] in "})"
            depth -= text[start] in "{("
            if depth == 0:
                return text[start:end]
        return text[:end]
    match = re.search(r"(\d+(\.\d+)?|[a-zA-Z]+)$", text[:end])
    return match.group(0) if match else text[end - 1]


def _too_costly(latex: str) -> bool:
    """Whether sympy could spend unbounded time or memory on this answer (then only strings are compared)."""
    if len(latex) > MAX_ANSWER_CHARS or _UNBOUNDED.search(latex):
        return True
    latex = latex.replace("**", "^")
    depth = max_depth = 0
    for char in latex:
        depth += char in "{(["
        depth -= char in "})]"
        max_depth = max(max_depth, depth)
    if max_depth > MAX_NESTING or latex.count("^") > MAX_POWERS:
        return True
    return _log10_magnitude(latex) > MAX_DIGITS


def _log10_magnitude(latex: str) -> float:
    """A rough upper bound of log10 of the largest integer evaluating `latex` can build (inf: a tower).

    Integers are the danger: sympy tests big ones for primality when it simplifies roots, and one `pow` on a
    3000-digit number is a C call no deadline can interrupt.
    """
    magnitude = math.log10(_literal_bound(latex))
    for match in re.finditer(r"\^", latex):
        exponent, end = _group_after(latex, match.end())
        if re.search(r"\^|!|\\binom|\\choose|\\exp|\\Gamma", exponent) or latex[end:].lstrip().startswith("^"):
            return math.inf  # a tower: `9^{9^9}`, `2^2^2`
        exponent_bound = _literal_bound(exponent)
        if exponent_bound > MAX_EXPONENT:
            return math.inf  # even `(x+1)^{10^6}` would be expanded
        magnitude += exponent_bound * _log10_magnitude(_group_before(latex, match.start()))
    for match in re.finditer(r"!|\\Gamma|\\[dt]?binom|\\choose", latex):
        if match.group() == "!":
            operands = [_group_before(latex, match.start())]
        elif match.group() == "\\choose":
            operands = [_group_before(latex, match.start()), _group_after(latex, match.end())[0]]
        else:
            first, end = _group_after(latex, match.end())
            operands = [first] if match.group() == "\\Gamma" else [first, _group_after(latex, end)[0]]
        if any(re.search(r"\^|!|\\Gamma|\\binom|\\choose", operand) for operand in operands):
            return math.inf
        size = max(_literal_bound(operand) for operand in operands)
        # log10 of n! (Gamma(n) is smaller); a binomial coefficient of n is below 2^n
        magnitude += size * math.log10(2) if len(operands) == 2 else math.lgamma(size + 1) / math.log(10)
    for match in re.finditer(r"\\exp", latex):
        argument, _ = _group_after(latex, match.end())
        if re.search(r"\^|\\exp", argument):
            return math.inf  # `\exp(\exp(\exp(10)))` overflows even floats
    return magnitude


def _log_of_huge_power(latex: str) -> bool:
    """Whether simplification could turn `c \\log x` into `\\log x^c` with a huge `c` (one unstoppable C `pow`)."""
    return bool(_LOGARITHM.search(latex)) and any(float(number) > MAX_EXPONENT for number in _NUMBER.findall(latex))


def _call_with_deadline(function, *args):
    """`function(*args)`, interrupted by `_Deadline` after `GRADE_TIMEOUT_S`, in whatever thread this runs.

    A watchdog thread raises `_Deadline` into the calling thread (CPython's `PyThreadState_SetAsyncExc`), which
    unlike SIGALRM works outside the main thread. Like a signal it is delivered between bytecodes, so it cannot stop
    one long C call: `_too_costly` keeps huge integers away from sympy for that reason.
    """
    thread_id = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    finished = threading.Event()
    state = {"done": False}

    def watchdog():
        if finished.wait(GRADE_TIMEOUT_S):
            return
        while True:  # repeat: code with a bare `except:` may swallow one
            with lock:
                if state["done"]:
                    return
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(_Deadline))
            if finished.wait(0.05):
                return

    threading.Thread(target=watchdog, name="grade-watchdog", daemon=True).start()
    try:
        return function(*args)
    finally:
        while True:  # the deadline may land anywhere in here too: retry until the watchdog is disarmed
            try:
                with lock:
                    state["done"] = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, None)  # drop one not yet delivered
                break
            except _Deadline:
                continue
        finished.set()


_warm = threading.Event()
_warm_lock = threading.Lock()


def _warm_up() -> None:
    """The first parse of a process builds math-verify's LaTeX parser (seconds on a busy machine): do it once
    outside the deadline, on benign input, so that a cold start cannot turn a right answer into a timeout."""
    with _warm_lock:
        if not _warm.is_set():
            _math_verify("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)")
            _warm.set()


def _math_verify(gold: str, answer: str) -> bool:
    parsed_gold = parse(f"\\boxed{{{gold}}}", extraction_config=_LATEX_CONFIG, parsing_timeout=None)
    parsed_answer = parse(f"\\boxed{{{answer}}}", extraction_config=_LATEX_CONFIG, parsing_timeout=None)
    symbols = {}
    for expression in parsed_gold:
        if isinstance(expression, Basic | MatrixBase):
            symbols.update((symbol.name, symbol) for symbol in expression.free_symbols if isinstance(symbol, Symbol))
    parsed_answer = [_with_symbols(expression, symbols) for expression in parsed_answer]
    return bool(verify(parsed_gold, parsed_answer, timeout_seconds=None))


def _with_symbols(expression, symbols: dict):
    """The answer with the gold's symbols, matched by name.

    math-verify makes every symbol complex when the LaTeX has a standalone `i` (`2 i t` but not `2it`), and sympy
    holds a real `t` and a complex `t` different: without this `\\frac{e^{2it}}{2+2i}` would not equal itself written
    with spaces.
    """
    if not isinstance(expression, Basic | MatrixBase):
        return expression
    renames = {
        symbol: symbols[symbol.name]
        for symbol in expression.free_symbols
        if isinstance(symbol, Symbol) and symbol.name in symbols and symbol != symbols[symbol.name]
    }
    return expression.xreplace(renames) if renames else expression


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
    if not answer or not gold_text:
        return False
    if answer == gold_text:
        return True
    if len(answer) > MAX_ANSWER_CHARS or len(gold_text) > MAX_ANSWER_CHARS:
        return False
    answer_number, gold_number = _plain_number(answer), _plain_number(gold_text)
    if answer_number is not None and gold_number is not None:
        return answer_number == gold_number
    # LaTeX reads `1.04e-3` (Minerva stores such golds) as 1.04 times Euler's e minus 3
    answer, gold_text = (_SCIENTIFIC.sub(r"\1 \\times 10^{\2}", text) for text in (answer, gold_text))
    if _too_costly(answer) or _too_costly(gold_text) or _log_of_huge_power(answer + " " + gold_text):
        return False
    if not _warm.is_set():
        _warm_up()
    try:
        return _call_with_deadline(_math_verify, gold_text, answer)
    except _Deadline:
        return False
