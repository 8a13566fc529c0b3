"""Content detection: which kind of tool output a block is, judged from a sample of its head.

Detection is deterministic and cheap (regular expressions over the first few KB), so the router can call it
on every block; compressors re-check the shape they need and return None when it is not there.
"""

from __future__ import annotations

import re

from headroom.pipeline.code_numbered import strip_numbers
from headroom.pipeline.describe_compressor import looks_like_describe
from headroom.pipeline.types import ContentKind

_SAMPLE_CHARS = 6144
_LINE_SAMPLE_CHARS = 3072
_MAX_PREAMBLE_LINES = 3
_LANGUAGE_SAMPLE_LINES = 150
_LANGUAGE_SCORE_LINES = 80

_PREAMBLE_LINE = re.compile(r"^\{.*\}\s*$|^(stdout|stderr|output):\s*$")
_DIFF = re.compile(
    r"^(diff --git |diff -[ruN]|Index: |--- a/|\+\+\+ b/|@@ -\d+(,\d+)? \+\d+(,\d+)? @@|From [0-9a-f]{40} )", re.M
)
_DIFF_STARTS = ("diff -", "Index: ", "--- a/", "+++ b/", "@@ -", "From ")
_DIFF_LINE_OPENINGS = tuple("\n" + start for start in _DIFF_STARTS)
_TEST = re.compile(
    r"^\s*+(=== RUN |--- (FAIL|PASS|SKIP): |(PASS|FAIL|ok)\s+\S+\s+(\d+\.\d+s|\(cached\))|=+ test session starts|"
    r"<testsuites?[ >]|<testcase |Tests:\s+\d+|Test Suites:\s+\d+|(PASS|FAIL) \S+\.(test|spec)\.[jt]sx?|"
    r"\S+::\S+ (PASSED|FAILED|ERROR|SKIPPED)|=+ .*(passed|failed).* in [\d.]+s|_{3,} \S.* _{3,}$|"
    r"E {3,}\w+(Error|Exception)\b|\S+\.py:\d+: \w*(Error|Exception)$)",
    re.M,
)
# First characters of the _TEST alternatives that do not start with an arbitrary token.
_TEST_FIRST_CHARS = frozenset("=-POFo<T_E")
_TEST_EVENT_JSON = re.compile(r'"Action":\s*"(run|pass|fail|output|skip)"|"type":\s*"test(Start|Done)"')
_SEARCH_LINE = re.compile(r"^[\w./@+-]{0,200}?(\.[A-Za-z]\w{0,8}|/[\w-]+):\d+[:-]")
# The first character is factored out of each alternation so the regex engine can skip ahead quickly; the
# rare nonsense words the level pattern also accepts do not matter for a per-line frequency test.
_TIMESTAMP = re.compile(r"\d(?:\d{3}-\d\d-\d\d[T ]\d\d:\d\d|\d:\d\d:\d\d|\d{5} \d{6} |\d{9}\b)")
# The same patterns with ASCII classes, for ASCII lines (where `\d`, `\w` and `\b` mean the same and are quicker
# to test); neither uses `\s`, which in Unicode mode also takes the ASCII separators \x1c-\x1f.
_ASCII_TWINS = {pattern: re.compile(pattern.pattern, re.ASCII) for pattern in (_SEARCH_LINE, _TIMESTAMP)}
_LEVEL = re.compile(
    r"[CDEFINSTW\[](?:RACE|EBUG|NFO|OTICE|ARN(?:ING)?|RROR|ATAL|RITICAL|EVERE|info\]|warn\]|error\]|debug\])\b"
)
_RECORD_START = re.compile(r"\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d")
_RECORD_START_LINE = re.compile(r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d", re.M)
_RECORD_SCAN_CHARS = 65_536
_MIN_RECORDS = 3
_TABLE_SPLIT = re.compile(r"\S+(?: \S+)*")
_CELL_GAP = re.compile(r"\s{2,}|\t")
_LS_LINE = re.compile(r"^[dlcbps-][rwxsStT-]{9}[.@+]?\s+\d+")

_LANGUAGE_LINE_STARTS: dict[str, tuple[str, ...]] = {
    "python": ("def ", "class ", "from ", "@", "elif ", "except", "async def ", '"""', "try:", "raise ", "self."),
    "go": ("package ", "func ", "import (", "defer ", "go func", "if err != nil", "var (", "type "),
    "rust": (
        "fn ",
        "pub fn ",
        "pub(crate) ",
        "impl",
        "use ",
        "pub struct ",
        "pub enum ",
        "mod ",
        "let ",
        "#[",
        "match ",
    ),
    "typescript": (
        "interface ",
        "export interface ",
        "export type ",
        "import type ",
        "private ",
        "readonly ",
        "declare ",
    ),
    "javascript": ("const ", "let ", "var ", "function ", "export ", "module.exports", "import "),
    "java": ("public class ", "public final class ", "import java", "@Override", "protected ", "public static "),
    "c": ("#include", "#define", "typedef ", "#if", "static void ", "static int ", "int main("),
}
_LANGUAGE_SUBSTRINGS: dict[str, tuple[str, ...]] = {
    "python": ("self.", "__init__", " is None", " is not None", "):"),
    "go": (":= ", "err != nil", "fmt.", "func("),
    "rust": ("let mut ", "&self", "-> Option<", "-> Result<", "Some(", "&str", "::new("),
    "typescript": (": string", ": number", ": boolean", "?: ", ": Readonly", ": unknown", "): void", "): Promise<"),
    "javascript": ("=> ", "require(", " === ", "console.", "this."),
    "java": ("System.out", "String ", "new ", "final ", "throws "),
    "c": ("->", "NULL", "sizeof(", "malloc(", "printf("),
}
# Prose: a line opening with a word, free of code punctuation, with a run of four lower-case words.
_PROSE_LINE = re.compile(r"^[A-Za-z`*>-][^;{}=]*\b[a-z]+ [a-z]+ [a-z]+ [a-z]+\b")
_MAX_PROSE_SHARE = 0.1
_LANGUAGE_NEEDLES = {
    lang: tuple("\n" + start for start in starts) + _LANGUAGE_SUBSTRINGS[lang]
    for lang, starts in _LANGUAGE_LINE_STARTS.items()
}
_COMMENT_STARTS = ("#", "//", "/*", "*", "--", ";")
_MARKDOWN_STARTS = ("## ", "### ", "#### ", "```", "<details", "<summary", "<pre>", "<p>", "<br", "<img ", "- [", "* [")
_CODE_LINE_ENDS = ("{", "}", ";", ":", "(", ")", ",", "[", "]", "=>")
_CODE_LINE_STARTS = ("}", "#", "//", "/*", "*", "@", "return", "if ", "for ", "else")
_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".go": "go",
    ".rs": "rust",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
}
_EXTENSION_IN_NAME = re.compile(r"\.(pyi?|go|rs|tsx?|jsx?|mjs|java|c|h|cc|cpp)\b")


def split_preamble(text: str) -> tuple[str, str]:
    """Split off up to three header lines (one-line JSON objects, `stdout:`) that wrap a tool's real output.

    Returns (preamble, body) with preamble + body == text; preamble is empty when there is no such header or
    when the whole text is a sequence of JSON lines.
    """
    end = 0
    for _ in range(_MAX_PREAMBLE_LINES):
        newline = text.find("\n", end)
        if newline < 0 or newline - end > _SAMPLE_CHARS:
            break
        if not _PREAMBLE_LINE.match(text[end:newline]):
            break
        end = newline + 1
    if end == 0:
        return "", text
    rest = text[end : end + 2000].lstrip()
    first_rest_line = rest.split("\n", 1)[0]
    if first_rest_line.startswith("{") and first_rest_line.rstrip().endswith("}"):
        return "", text
    return text[:end], text[end:]


def _sample_lines(text: str) -> list[str]:
    """Non-blank lines of the head and of a slice of the middle (complete lines only)."""
    lines = text[:_LINE_SAMPLE_CHARS].split("\n")
    if len(text) > _LINE_SAMPLE_CHARS and len(lines) > 1:
        lines.pop()
        middle = len(text) // 2
        lines.extend(text[middle : middle + _LINE_SAMPLE_CHARS // 2].split("\n")[1:-1])
    return [line.rstrip("\r") for line in lines if line.strip()]


def _share_at_least(lines: list[str], pattern: re.Pattern[str], share: float, width: int = 400) -> bool:
    """Whether at least `share` of the lines match `pattern` in their first `width` characters; stops reading
    lines as soon as the rest could not change the answer."""
    n = len(lines)
    needed = next((count for count in range(n + 1) if count / n >= share), n + 1) if n else n + 1
    ascii_twin = _ASCII_TWINS.get(pattern, pattern)
    found = 0
    for i, line in enumerate(lines):
        if found + n - i < needed:
            return False
        if (ascii_twin if line.isascii() else pattern).search(line, 0, width):
            found += 1
            if found >= needed:
                return True
    return found >= needed


def _diff_lines(sample: str) -> int:
    """How many lines open like a diff's headers or hunks (at most 2: that decides). Without any line opening
    so (one search in C per opening) there are none; else the regex only sees lines whose start could match."""
    if not any(opening in sample for opening in _DIFF_LINE_OPENINGS) and not sample.startswith(_DIFF_STARTS):
        return 0
    found = 0
    for line in sample.split("\n"):
        if line.startswith(_DIFF_STARTS) and _DIFF.match(line):
            found += 1
            if found == 2:
                break
    return found


def _test_lines(lines: list[str]) -> int:
    """How many lines look like test-runner output (at most 2: that decides); only lines that could match are
    given to the regex."""
    found = 0
    for line in lines:
        if (line.lstrip()[:1] in _TEST_FIRST_CHARS or "::" in line or ".py:" in line) and _TEST.match(line):
            found += 1
            if found == 2:
                break
    return found


def _is_record_log(lines: list[str], body: str) -> bool:
    """A log whose records span many lines (dumped configs, tracebacks, tool observations): it opens with a
    timestamped record that carries a level, and more records start further on."""
    if not (_RECORD_START.match(lines[0]) and _LEVEL.search(lines[0], 0, 200)):
        return False
    return len(_RECORD_START_LINE.findall(body, 0, _RECORD_SCAN_CHARS)) >= _MIN_RECORDS


def _looks_like_json(sample: str, lines: list[str]) -> bool:
    stripped = sample.lstrip()
    if not stripped or stripped[0] not in "{[":
        return False
    if len(lines) > 1 and stripped[0] == "{":
        return lines[0].rstrip().endswith(("}", "{", ",", "[")) or lines[0].strip() == "{"
    return True


def _is_ndjson(lines: list[str]) -> bool:
    if len(lines) < 2:
        return False
    return all(line.lstrip().startswith("{") and line.rstrip().endswith("}") for line in lines[:20])


def _is_table(lines: list[str]) -> bool:
    if len(lines) < 2:
        return False
    if _share_at_least(lines[:40], _LS_LINE, 0.6):
        return True
    header = _TABLE_SPLIT.findall(lines[0].replace("\t", "  "))
    header_cells = [cell for cell in _CELL_GAP.split(lines[0].strip()) if cell]
    if len(header_cells) >= 3 and lines[0].strip() == lines[0].strip().upper() and len(header) >= 3:
        widths = [len(_CELL_GAP.split(line.strip())) for line in lines[1:40]]
        return sum(1 for w in widths if w >= len(header_cells) - 2) >= 0.8 * len(widths)
    return looks_like_describe(lines)


def detect_kind(text: str, tool_name: str = "") -> ContentKind:
    """The content kind of `text` (a tool result or message block), judged from its head."""
    _, body = split_preamble(text)
    sample = body[:_SAMPLE_CHARS]
    lines = _sample_lines(body)
    if not lines:
        return ContentKind.TEXT
    bare = strip_numbers(lines[:_LANGUAGE_SAMPLE_LINES])
    if bare is not None:
        return ContentKind.CODE if _language_of(bare, tool_name) else ContentKind.TEXT
    if _is_ndjson(lines) and _TEST_EVENT_JSON.search(sample):
        return ContentKind.TEST_OUTPUT
    if _looks_like_json(sample, lines):
        return ContentKind.JSON
    if _diff_lines(sample) >= 2:
        return ContentKind.DIFF
    if _test_lines(lines) >= 2:
        return ContentKind.TEST_OUTPUT
    if _share_at_least(lines, _SEARCH_LINE, 0.6):
        return ContentKind.SEARCH
    if _share_at_least(lines, _TIMESTAMP, 0.5) or _share_at_least(lines, _LEVEL, 0.4) or _is_record_log(lines, body):
        return ContentKind.LOGS
    if _is_table(lines):
        return ContentKind.TABLE
    if _language_of(lines, tool_name):
        return ContentKind.CODE
    return ContentKind.TEXT


def detect_language(text: str, tool_name: str = "") -> str:
    """The programming language of source text ("python", "go", "rust", ...), or "" when it is not code; line
    numbers in front of each line (an agent's file read) are looked past."""
    lines = _sample_lines(text)
    return _language_of(strip_numbers(lines[:_LANGUAGE_SAMPLE_LINES]) or lines, tool_name)


def _language_of(sample_lines: list[str], tool_name: str) -> str:
    """Language scores are occurrence counts over the first sampled lines joined into one block (`str.count`
    runs in C), so detection stays well under a millisecond; markdown (prose with fenced snippets) is not code."""
    named = _EXTENSION_IN_NAME.search(tool_name)
    if named:
        return _EXTENSIONS["." + named.group(1)]
    lines = [line.strip() for line in sample_lines[:_LANGUAGE_SAMPLE_LINES]]
    if len(lines) < 3:
        return ""
    code_lines = sum(1 for line in lines if line.endswith(_CODE_LINE_ENDS) or line.startswith(_CODE_LINE_STARTS))
    if code_lines < 0.3 * len(lines):
        return ""
    markdown = sum(
        1
        for line in lines
        if line.startswith(_MARKDOWN_STARTS) or ("](http" in line and not line.startswith(_COMMENT_STARTS))
    )
    prose = sum(1 for line in lines if line.count(" ") >= 3 and _PROSE_LINE.match(line))
    if markdown >= max(3, len(lines) // 20) or prose >= _MAX_PROSE_SHARE * len(lines):
        return ""
    block = "\n" + "\n".join(lines[:_LANGUAGE_SCORE_LINES])
    scores = {lang: sum(map(block.count, needles)) for lang, needles in _LANGUAGE_NEEDLES.items()}
    best = max(scores, key=lambda lang: scores[lang])
    if scores[best] < max(4, min(len(lines), _LANGUAGE_SCORE_LINES) // 12):
        return ""
    if best == "javascript" and scores["typescript"] >= max(4, scores["javascript"] // 4):
        return "typescript"
    return best
