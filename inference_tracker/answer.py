"""Grading a chat model's answer: its final answer, as a number, equals the expected one.

The final answer of a completion, in order of preference:

1. Reasoning is not the answer: every <think>...</think> block goes, an unclosed <think> takes
   the rest of the text with it, and a stray </think> takes everything before it.
2. The last balanced \\boxed{...} (the innermost when nested): only its content counts.
3. Else, in that content or the whole text: the first number after the LAST statement marker
   that a number follows: "answer is/was", "Answer:", "final answer", "result is", "Result:",
   "equals", "答案", "=", "≈". All markers rank alike, so a check after the answer
   ("Answer: 1771.2. Check: 1771.2 / 9 = 196.8") makes the check's result the answer.
4. Else the last number of the text.

Only a bare number is an answer: a number glued to a unit or magnitude (1771.2k, 1771.2%, 2nd,
1.2.3) is found, but when it is the one chosen the final answer is None. Digits inside a word or
id (Qwen3, x86, gpt-4o) are not numbers at all.

Numbers: 1771.2, -3 (also U+2212), 1,771.2, 1 771.2 (space, U+00A0, U+2009 or U+202F between
groups of three), 1{,}771.2 and 1\\,771.2 (LaTeX), 1.771,2 and 1 771,2 (European), 1771,2 and
1771,25 (a decimal comma: one or two digits after a comma, no dot), 1,771 (exactly three digits
after a comma: thousands), 8856/5, \\frac{8856}{5}, 1771 1/5, 1771⅕, 1.7712e3,
1.7712 \\times 10^{3} (also \\cdot, the multiplication sign, x, ·, 10³). A comma followed by
a space separates a list.
"""

from __future__ import annotations

import math
import re
import unicodedata

_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)

# \boxed{ opens a box; \{ and \} are escaped braces, not structure.
_BRACE = re.compile(r"\\boxed\s*\{|\\[{}]|[{}]")

_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}")
_COMMAND_THEN_DIGIT = re.compile(r"(\\[A-Za-z]++)(?=\d)")  # \times9 -> \times 9
_DIGIT_THEN_COMMAND = re.compile(r"(?<=\d)(?=\\[A-Za-z])")  # 1771\frac -> 1771 \frac

_SPACES = " \u00a0\u2009\u202f"  # thousands separators: space, no-break, thin, narrow no-break
_VULGAR = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅐⅛⅜⅝⅞⅑⅒↉"
_MINUS = ("-", "\u2212")  # hyphen-minus, minus sign
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻\u2212", "0123456789--")

# Possessive quantifiers (++, ?+) never backtrack: linear time, and 1771.2k cannot shrink to 1771.
_NUMBER = re.compile(
    rf"""
    (?<![A-Za-z\d.])(?<![A-Za-z]-)               # not inside a word, id or version
    (?P<sign>[-\u2212+])?                        # \u2212: minus sign
    (?:
        (?P<whole>\d++)[ \u00a0](?P<num>\d++)[/\u2044](?P<den>\d++)             # 1771 1/5
      | (?P<top>\d++(?:\.\d++)?+)\ ?[/\u2044]\ ?(?P<bottom>\d++(?:\.\d++)?+)    # 8856/5
      | (?:(?P<before>\d++)[ \u00a0]?)?+(?P<vulgar>[{_VULGAR}])            # 1771⅕
      | (?:
            (?P<eu>\d{{1,3}}(?:[.{_SPACES}]\d{{3}}(?!\d))++,\d++          # 1.771,2  1 771,2
              | (?<!\d,)\d++,\d{{1,2}}(?!\d|,\d))                          # 1771,2
          | (?P<en>\d{{1,3}}(?:,\d{{3}}(?!\d))++(?:\.\d++)?+             # 1,771.2
              | \d{{1,3}}(?:[{_SPACES}]\d{{3}}(?!\d))++(?:\.\d++)?+        # 1 771.2
              | \d++(?:\.\d++)?+)                                          # 1771.2
        )
        (?:                                                                # exponent
            [eE](?P<e>[-+]?\d++)
          | \s*+(?:\\times|\\cdot|[\u00d7x·⋅*])\s*+10
            (?:\^\{{?(?P<power>[-+\u2212]?\d++)\}}?|(?P<superscript>⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]++))
        )?+
    )
    """,
    re.VERBOSE,
)
_GLUED = re.compile(r"[A-Za-z]|\s*+\\?[%‰]|\.\d")  # 1771.2k, 1771.2 %, 1771.2\%, 1.2.3

_STATEMENT = re.compile(
    r"""
    \bfinal\s++(?:answer|result)\b
  | \b(?:answer|result)\b[*_\s]*+(?:is\b|was\b|:|=|\uff1a)
  | \bequals\b | 答案 | = | ≈ | \\approx
    """,
    re.VERBOSE | re.IGNORECASE,
)


def answer_text(content: object) -> str:
    """The gradable text of a message's `content`, with reasoning removed.

    A str as is; a list of parts (plain strings, or {"type": "text", "text": "..."} dicts; other
    parts are skipped) joined with "\\n", so that one part's number can never run into the next
    part; anything else (None, numbers, dicts) gives "".
    """
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = [_part_text(part) for part in content]
        text = "\n".join(part for part in parts if part is not None)
    else:
        return ""
    return _strip_reasoning(text)


def final_answer(text: str) -> float | None:
    """The final answer of `text` as a number, or None when the text states no number."""
    text = _strip_reasoning(text)
    boxed = _last_boxed(text)
    text = _normalize(text if boxed is None else boxed)
    numbers = [
        (match.start(), None if _GLUED.match(text, match.end()) else _value(match))
        for match in _NUMBER.finditer(text)
    ]
    if not numbers:
        return None
    last_start = numbers[-1][0]
    statement_end = max(
        (match.end() for match in _STATEMENT.finditer(text) if match.end() <= last_start),
        default=None,
    )
    if statement_end is None:
        return numbers[-1][1]
    return next(value for start, value in numbers if start >= statement_end)


def is_correct(text: str, expected: str) -> bool:
    """True when the final answer of `text` equals `expected` within a relative 1e-9."""
    try:
        target = float(expected.replace(",", ""))
    except ValueError:
        return False
    found = final_answer(text)
    return found is not None and math.isclose(found, target, rel_tol=1e-9)


def _part_text(part: object) -> str | None:
    """The text of one content part: a plain string, or a dict of type "text"."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type", "text") == "text":
        text = part.get("text")
        return text if isinstance(text, str) else None
    return None


def _strip_reasoning(text: str) -> str:
    """`text` without <think>...</think> blocks, an unclosed <think> tail, or a stray </think>."""
    kept: list[str] = []
    position = 0
    thinking = False
    for tag in _THINK_TAG.finditer(text):
        if not tag.group(1):  # <think>
            if not thinking:
                kept.append(text[position : tag.start()])
                thinking = True
        elif thinking:  # </think> closing a block
            thinking = False
            position = tag.end()
        else:  # a stray </think>: the reasoning had no opening tag
            kept = []
            position = tag.end()
    if not thinking:
        kept.append(text[position:])
    return "".join(kept)


def _last_boxed(text: str) -> str | None:
    """The content of the last balanced \\boxed{...} (the innermost when nested), if any."""
    opened: list[tuple[int, bool]] = []  # (where the content starts, opened by \boxed)
    last: tuple[int, int] | None = None
    for brace in _BRACE.finditer(text):
        if brace[0].startswith("\\boxed") or brace[0] == "{":
            opened.append((brace.end(), brace[0] != "{"))
        elif brace[0] == "}" and opened:
            start, boxed = opened.pop()
            if boxed and (last is None or start > last[0]):
                last = (start, brace.start())
    return None if last is None else text[last[0] : last[1]]


def _normalize(text: str) -> str:
    """LaTeX number spellings as plain text: 1{,}771.2, 1\\,771.2, \\frac{8856}{5}, \\times9."""
    text = text.replace("{,}", ",").replace("\\,", "\u2009").replace("\\!", "")
    text = _COMMAND_THEN_DIGIT.sub(r"\1 ", text)
    text = _DIGIT_THEN_COMMAND.sub(" ", text)
    return _FRAC.sub(r"\1/\2", text)


def _value(number: re.Match[str]) -> float | None:
    """The value of one _NUMBER match; None for a zero denominator."""
    value: float | None
    if number["whole"] is not None:
        value = _ratio(number["num"], number["den"])
        value = None if value is None else float(number["whole"]) + value
    elif number["top"] is not None:
        value = _ratio(number["top"], number["bottom"])
    elif number["vulgar"] is not None:
        value = float(number["before"] or 0) + unicodedata.numeric(number["vulgar"])
    else:
        if number["eu"] is not None:
            digits = number["eu"].replace(".", "").replace(",", ".")
        else:
            digits = number["en"].replace(",", "")
        digits = re.sub(f"[{_SPACES}]", "", digits)
        exponent = number["e"] or number["power"] or number["superscript"] or "0"
        value = float(f"{digits}e{exponent.translate(_SUPERSCRIPTS)}")
    if value is None or number["sign"] not in _MINUS:
        return value
    return -value


def _ratio(top: str, bottom: str) -> float | None:
    """top/bottom, or None when bottom is zero."""
    denominator = float(bottom)
    return None if denominator == 0 else float(top) / denominator
