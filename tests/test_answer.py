"""Grading a completion: its final answer, as a number, equals the expected answer."""

# ruff: noqa: RUF001  # answers use the multiplication sign, U+2212 and fullwidth punctuation

from __future__ import annotations

import math

import pytest

from inference_tracker.answer import answer_text, final_answer, is_correct

EXPECTED = "1771.2"  # the default prompt: "Solve this: 123/2*3.2*9"

STEPS_MARKDOWN = """To solve 123/2*3.2*9, work left to right:

1. **Divide:** 123 / 2 = 61.5
2. **Multiply:** 61.5 × 3.2 = 196.8
3. **Multiply:** 196.8 × 9 = 1771.2

**Answer: 1771.2**"""

STEPS_LATEX = r"""We evaluate left to right:
\[
\frac{123}{2} \times 3.2 \times 9 = 61.5 \times 3.2 \times 9 = 196.8 \times 9 = 1771.2
\]"""

FINAL_ANSWER_BOXED = r"""Step 1: \(123 / 2 = 61.5\)
Step 2: \(61.5 \times 3.2 = 196.8\)
Step 3: \(196.8 \times 9 = 1771.2\)

**Final Answer**
\[\boxed{1771.2}\]"""

CHINESE = """首先计算 123/2 = 61.5，然后 61.5×3.2 = 196.8，最后 196.8×9 = 1771.2。

答案是：**1771.2**"""

QUESTION_BACK = """123/2*3.2*9 = 1771.2

Would you like me to round it to 2 decimal places, or show the 3 steps?"""

THINK_THEN_WRONG = """<think>
123/2 = 61.5, 61.5*3.2 = 196.8, 196.8*9 = 1771.2. Hmm, let me present it differently.
</think>

The answer is 2.135"""

IS_CORRECT_CASES: list[tuple[str, bool]] = [
    # --- right: the number itself, in many dressings -------------------------------------
    ("1771.2", True),
    ("1771.20", True),
    ("1771.2000000000003", True),
    ("**1771.2**", True),
    ("$1771.2$", True),
    ("$$1771.2$$", True),
    (r"\(1771.2\)", True),
    ("`1771.2`", True),
    ("_1771.2_", True),
    ("1,771.2", True),
    ("Answer: 1,771.20", True),
    ("The answer is: 1771.2.", True),
    ("1771.2 (exactly)", True),
    (r"1771.2 \text{ (exact)}", True),
    ("values: 196.8,1771.2", True),
    # fractions and mixed numbers
    ("17712/10", True),
    ("The answer is 17712/10.", True),
    ("8856/5", True),
    ("Answer: 8856 / 5", True),
    (r"\boxed{\dfrac{8856}{5}}", True),
    ("1771 1/5", True),
    ("The answer is 1771 1/5.", True),
    (r"\boxed{1771\frac{1}{5}}", True),
    ("1771⅕", True),
    ("= 1771 ⅕", True),
    # LaTeX and typographic thousands separators
    (r"\boxed{1{,}771.2}", True),
    ("1{,}771.2", True),
    (r"The result is $1{,}771.2$.", True),
    (r"$1\,771.2$", True),
    ("1 771.2", True),
    ("1\u202f771.2", True),
    ("1\u00a0771.2", True),
    # decimal comma
    ("1771,2", True),
    ("1771,20", True),
    ("1.771,2", True),
    ("Das Ergebnis ist 1.771,2.", True),
    ("Le résultat est 1\u00a0771,2.", True),
    ("1 771,2", True),
    ("Ответ: 1771,2", True),
    # scientific notation
    ("1.7712e3", True),
    ("1.7712E+3", True),
    (r"$1.7712 \times 10^3$", True),
    (r"1.7712 \times 10^3", True),
    (r"1.7712 \cdot 10^{3}", True),
    (r"1.7712\times10^{3}", True),
    ("1.7712 × 10^3", True),
    ("1.7712 × 10³", True),
    ("1.7712 x 10^{3}", True),
    # boxed answers win
    (r"\boxed{\boxed{1771.2}}", True),
    (r"First guess \boxed{2}; after checking, \boxed{1771.2}", True),
    (r"The answer is \boxed{1771.2}. Check: 1771.2 / 9 = 196.8", True),
    (r"The final answer is $\boxed{1771.2}$.", True),
    # chains of "=" and realistic full answers
    ("123/2 = 61.5; 61.5*3.2 = 196.8; 196.8*9 = **1771.2**", True),
    ("123/2 = 61.5, ×3.2 = 196.8, ×9 = 1771.2", True),
    ("123/2*3.2*9 ≈ 1771.2", True),
    ("123/2*3.2*9 = 1771.2 (to 1 decimal place)", True),
    (STEPS_MARKDOWN, True),
    (STEPS_LATEX, True),
    (FINAL_ANSWER_BOXED, True),
    (CHINESE, True),
    ("答えは1771.2です。", True),
    (QUESTION_BACK, True),
    ("The result is 1771.2. Do you want the 3 intermediate steps?", True),
    ("It equals 1771.2. Want it with 2 more decimals?", True),
    ("Solve this: 123/2*3.2*9\n\n1771.2", True),
    ("Qwen3 on x86 (gpt-4o agrees) says 1771.2", True),
    ("1771.2\n\n— computed by gpt-4o", True),
    # reasoning is not the answer
    ("<think>\n123/2 is 61.5... maybe 1728?\n</think>\n\nThe answer is 1771.2.", True),
    ("<THINK>1728</THINK>1771.2", True),
    ("Reasoning without an opening tag: 1728?\n</think>\n\n1771.2", True),
    # --- wrong, although 1771.2 is mentioned ----------------------------------------------
    ("It is not 1771.2; the answer is 2.135", False),
    (THINK_THEN_WRONG, False),
    ("123/2*3.2*9 = 1771.2? Let me recheck...\n\nFinal answer: 1728", False),
    ("... = 1771.2? Let me recheck... Final answer: 1728", False),
    ("1771.2/2 = 885.6, so the answer is 885.6", False),
    ("= 1771.2. Hmm, that's wrong. The answer is 1771.3", False),
    (r"\boxed{1728} although some would say 1771.2", False),
    ("1771.2 or 1728? I am not sure: 1728", False),
    (
        "Reasoning without an opening tag. The answer is 1771.2!\n</think>\n\nThe answer is 1728",
        False,
    ),
    # a number with a unit or magnitude is not the bare number
    ("1771.2k", False),
    ("1771.2K", False),
    ("1771.2M", False),
    ("1771.2%", False),
    ("1771.2 %", False),
    (r"= 1771.2\%", False),
    ("The answer is 1771.2%.", False),
    ("123/2*3.2*9 = 1771.2, i.e. the answer is 1771.2%.", False),
    ("Answer: 1771.2 × 10^3", False),
    # other numbers
    ("17712", False),
    ("1771", False),
    ("1,771", False),
    ("1771, 2", False),
    ("1771.25", False),
    ("1771.2.5", False),
    ("−1771.2", False),
    ("The answer is -1771.2", False),
    (r"1771.2 \boxed{}", False),
    # no answer at all
    ("", False),
    ("No idea, sorry.", False),
    ("<think>The answer is 1771.2</think>", False),
    ("<think>The answer is 1771.2", False),
]


@pytest.mark.parametrize(("text", "correct"), IS_CORRECT_CASES)
def test_is_correct(text: str, correct: bool) -> None:
    assert is_correct(text, EXPECTED) is correct


# The 20 answers issue 12 found misjudged, each with the right verdict.
ISSUE_12_CASES: list[tuple[str, bool]] = [
    ("17712/10", True),
    ("8856/5", True),
    ("1771 1/5", True),
    ("1771⅕", True),
    (r"\boxed{1{,}771.2}", True),
    ("1{,}771.2", True),
    ("1 771.2", True),
    ("1\u202f771.2", True),
    ("1771,2", True),
    ("1.771,2", True),
    ("1.7712e3", True),
    (r"1.7712 \times 10^3", True),
    ("1771.2000000000003", True),
    ("values: 196.8,1771.2", True),
    ("It is not 1771.2; the answer is 2.135", False),
    (THINK_THEN_WRONG, False),
    ("... = 1771.2? Let me recheck... Final answer: 1728", False),
    ("1771.2/2 = 885.6, so the answer is 885.6", False),
    ("1771.2k", False),
]


def test_the_table_holds_every_case_the_issue_lists() -> None:
    """The issue's 20: these 19 texts, and content as a list of parts (test_answer_text and
    test_record's row-level tests, with reasoning-only completions)."""
    for case in ISSUE_12_CASES:
        assert case in IS_CORRECT_CASES, case


def test_the_table_is_large_and_balanced() -> None:
    assert len(IS_CORRECT_CASES) >= 60
    assert len({text for text, _ in IS_CORRECT_CASES}) == len(IS_CORRECT_CASES)
    assert sum(correct for _, correct in IS_CORRECT_CASES) >= 30
    assert sum(not correct for _, correct in IS_CORRECT_CASES) >= 20


FINAL_ANSWER_CASES: list[tuple[str, float | None]] = [
    ("", None),
    ("no numbers here", None),
    ("1771.2", 1771.2),
    ("-3", -3.0),
    ("−3", -3.0),  # U+2212 minus sign
    ("+3", 3.0),
    ("x = -0.5", -0.5),
    ("5-3", 3.0),  # a hyphen after a digit is not a sign
    ("1,771", 1771.0),  # exactly three digits after a single comma: thousands
    ("1,234,567.5", 1234567.5),
    ("3,14", 3.14),  # one or two digits after the comma: decimal comma
    ("1771,25", 1771.25),
    ("1.771,2", 1771.2),
    ("1.771", 1.771),  # a dot alone is always a decimal point
    ("1, 2, 3", 3.0),  # comma and space: a list
    ("1,2,3", 3.0),  # a list, not 1.2 or 2.3
    ("½", 0.5),
    ("2 ¾", 2.75),
    ("-1 1/2", -1.5),
    ("8856/5", 1771.2),
    (r"-\frac{1}{2}", -0.5),
    ("1/0", None),
    ("1.7712e3", 1771.2),
    ("1.7712 × 10⁻³", 0.0017712),
    ("1771.2k", None),
    ("50%", None),
    ("1st", None),
    ("1.2.3", None),
    ("Qwen3", None),
    ("gpt-4o", None),
    ("x86", None),
    ("12 apples and 7 pears", 7.0),
    ("The answer is 42. 7 more words follow.", 42.0),
    ("Answer: 3\n\nHope this helps with your 2 questions", 3.0),
    ("Answer: see the steps below.\n2 + 3 = 5", 5.0),
    # the last statement wins, "=" included: a check after the answer overrides it
    ("Answer: 1771.2. Check: 1771.2 / 9 = 196.8", 196.8),
    (r"\boxed{5} then 6", 5.0),
    (r"\boxed{x = 5, y = 6}", 6.0),
    (r"\boxed{\text{no solution}} 7", None),
    (r"\boxed{1771.2", 1771.2),  # unbalanced: no box, the last number
    (r"\boxed{\{1, 2\}} 3", 2.0),  # escaped braces are not structure
    ("<think>5</think>", None),
    ("6 <think>5", 6.0),
]


@pytest.mark.parametrize(("text", "value"), FINAL_ANSWER_CASES)
def test_final_answer(text: str, value: float | None) -> None:
    found = final_answer(text)
    if value is None:
        assert found is None
    else:
        assert found is not None
        assert math.isclose(found, value, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("The answer is 1771.2", "The answer is 1771.2"),
        ("", ""),
        ([{"type": "text", "text": "The answer"}, {"type": "text", "text": "is 1771.2"}],
         "The answer\nis 1771.2"),
        (["The answer", "is 1771.2"], "The answer\nis 1771.2"),
        ([{"text": "no type is text"}], "no type is text"),
        ([{"type": "image_url", "image_url": {"url": "x"}}, {"type": "reasoning", "text": "1728"},
          {"type": "text", "text": 5}, 7, None, {"type": "text", "text": "1771.2"}], "1771.2"),
        ([], ""),
        (None, ""),
        (1771.2, ""),
        (42, ""),
        ({"type": "text", "text": "1771.2"}, ""),
        ("<think>1728</think>1771.2", "1771.2"),
        ("<think>a</think>The <think>b</think>answer", "The answer"),
        ("<think>\n1728\n</think>\n\n1771.2", "\n\n1771.2"),
        ("Answer 5<think>but maybe", "Answer 5"),
        ("<think>never closed", ""),
        ("<Think>a</THINK>b", "b"),
        ("reasoning 1728</think>1771.2", "1771.2"),
        ([{"type": "text", "text": "<think>a"}, {"type": "text", "text": "b</think>5"}], "5"),
    ],
)  # fmt: skip
def test_answer_text(content: object, text: str) -> None:
    assert answer_text(content) == text


@pytest.mark.parametrize(
    ("text", "expected", "correct"),
    [
        ("x = -3", "-3", True),
        ("x = 3", "-3", False),
        ("x = −3", "-3", True),
        ("0.50", "0.5", True),
        ("½", "0.5", True),
        ("1/2", "0.5", True),
        ("0.05", "0.5", False),
        ("The answer is 42.", "42", True),
        ("42", "42.0", True),
        ("The answer is 42%.", "42", False),
        ("0", "0", True),
        ("1,771.2", "1,771.2", True),
        ("1771.2", "not a number", False),
        ("1771.2", "", False),
    ],
)
def test_other_expected_values(text: str, expected: str, correct: bool) -> None:
    assert is_correct(text, expected) is correct


HOSTILE = [
    "\\boxed{" * 20_000 + "1" + "}" * 20_000,
    "\\boxed{" * 30_000,
    "}" * 100_000 + "{" * 100_000,
    "<think>",
    "</think>",
    "<think>" * 20_000 + "1",
    "1,2 " * 50_000,
    "1, 2 3,456 7.8,9 " * 12_000,
    "9" * 200_000,
    "1." * 100_000,
    "1.111" * 40_000,
    "1 " * 100_000,
    "111 " * 50_000,
    "1,111" * 40_000,
    "=" * 100_000,
    "the answer is " * 15_000,
    "\\frac{" * 20_000,
    "\\times" * 30_000 + "1",
    "1e" + "9" * 100_000,
    "1.7712 × 10^" + "9" * 100_000,
    "1/" * 100_000,
    "\x00\ud800\ufffd½⅕",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(text: str) -> None:
    assert isinstance(answer_text(text), str)
    assert isinstance(answer_text([text, {"type": "text", "text": text}]), str)
    found = final_answer(text)
    assert found is None or isinstance(found, float)
    assert is_correct(text, EXPECTED) is False


def test_deeply_nested_boxes_give_the_innermost() -> None:
    assert final_answer("\\boxed{" * 20_000 + "1771.2" + "}" * 20_000) == 1771.2
