"""The code compressor on the real source files of the corpus and on small inline snippets: needles of each
question survive, every top-level signature stays, output still parses, and what it cannot handle returns None."""

from __future__ import annotations

import ast
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from headroom.accounting.tokens import count_tokens
from headroom.pipeline.code_compressor import CodeCompressor
from headroom.pipeline.code_languages import parser_for
from headroom.pipeline.code_numbered import split_numbered
from headroom.pipeline.router import compress_block
from headroom.pipeline.types import CompressionContext

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "code"
LANGUAGES = {".py": "python", ".go": "go", ".rs": "rust", ".ts": "typescript"}
TOP_LEVEL = {
    "go": re.compile(r"^func .*"),
    "rust": re.compile(r"^(pub(\(crate\))? )?(fn|struct|enum|trait|impl)\b.*"),
    "typescript": re.compile(r"^(export )?(default )?(async )?(function|class|interface|type) .*"),
}


def _payloads() -> list[tuple[str, str, str, dict[str, object]]]:
    cases = []
    for meta_path in sorted(CORPUS.glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        payload = CORPUS / str(meta["payload_file"])
        cases.append((str(meta["id"]), payload.read_text(encoding="utf-8"), LANGUAGES[payload.suffix], meta))
    return cases


PAYLOADS = _payloads()
IDS = [case[0] for case in PAYLOADS]


def _compress(text: str, **fields: object) -> str:
    result = CodeCompressor().compress(text, CompressionContext(**fields))  # type: ignore[arg-type]
    assert result is not None
    assert result.lossless is False
    return result.text


def test_corpus_has_every_language() -> None:
    assert {case[2] for case in PAYLOADS} == {"python", "go", "rust", "typescript"}


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_needles_survive_with_the_question(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    needles = meta["needles"]
    assert isinstance(needles, list)
    for hint in (language, ""):
        out = _compress(text, query=meta["question"], language_hint=hint)
        assert [needle for needle in needles if needle not in out] == [], payload_id


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_real_size_reduction(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    before = count_tokens(text)
    with_question = count_tokens(_compress(text, query=meta["question"], language_hint=language))
    skeleton = count_tokens(_compress(text, language_hint=language, depth=2))
    assert with_question <= 0.6 * before, payload_id
    assert skeleton <= 0.5 * before, payload_id


def test_large_files_shrink_by_more_than_sixty_percent_on_average() -> None:
    savings = []
    for _, text, language, meta in PAYLOADS:
        out = _compress(text, query=meta["question"], language_hint=language)
        savings.append(1 - count_tokens(out) / count_tokens(text))
    assert sum(savings) / len(savings) >= 0.55
    assert max(savings) >= 0.7


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_top_level_signatures_kept(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    out = _compress(text, query="unrelated question about nothing", language_hint=language, depth=2)
    if language == "python":
        names = [node.name for node in ast.parse(text).body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
        kept = [name for name in names if re.search(rf"^(def|class) {name}\b", out, re.M)]
        assert kept == names
        return
    heads = [line.split("{")[0].rstrip() for line in text.splitlines() if TOP_LEVEL[language].match(line)]
    assert heads
    assert [head for head in heads if head not in out] == [], payload_id


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_output_still_parses(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    for depth in (1, 2):
        out = _compress(text, query=meta["question"], language_hint=language, depth=depth)
        parser = parser_for(language)
        assert parser is not None
        assert not parser.parse(out.encode()).root_node.has_error, payload_id
        if language == "python":
            ast.parse(out)


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_deterministic(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    ctx = CompressionContext(query=str(meta["question"]), language_hint=language)
    first = CodeCompressor().compress(text, ctx)
    second = CodeCompressor().compress(text, ctx)
    assert first is not None
    assert first == second
    assert first.transform == f"code:{language}"


def test_named_method_kept_whole_and_others_elided() -> None:
    text = (CORPUS / "holmes_tool_calling_llm_py.py").read_text()
    query = "What happens in ToolCallingLLM.call when the loop runs past max_steps?"
    out = _compress(text, query=query, language_hint="python", depth=2)
    assert 'raise Exception(f"Too many LLM calls - exceeded max_steps: {i}/{max_steps}")' in out
    assert re.search(r"^\s+\.\.\.  # \[… \d+ lines omitted\]$", out, re.M)


def test_depth_two_keeps_fewer_bodies() -> None:
    text = (CORPUS / "requests_sessions_py.py").read_text()
    query = "When does requests strip the Authorization header on a redirect?"
    normal = _compress(text, query=query, language_hint="python")
    deeper = _compress(text, query=query, language_hint="python", depth=2)
    assert len(deeper) < len(normal)
    assert 'if "Authorization" in headers and self.should_strip_auth(original_url, url):' in normal
    assert 'if "Authorization" in headers' not in deeper


def test_keep_patterns_keep_matching_bodies() -> None:
    text = (CORPUS / "gotestsum_execution_go.go").read_text()
    needle = "tc.Elapsed = neverFinished"
    assert needle not in _compress(text, query="", language_hint="go", depth=2)
    out = _compress(text, query="", language_hint="go", depth=2, keep_patterns=(r"Elapsed = never\w+",))
    assert needle in out


def test_docstring_first_line_kept_when_body_elided() -> None:
    text = (CORPUS / "requests_sessions_py.py").read_text()
    out = _compress(text, query="", language_hint="python", depth=2)
    assert '"""Receives a Response. Returns a redirect URI or ``None``"""' in out
    assert "The redirect target is" not in out or "The redirect target is" in text


JAVA = """package demo;

import java.util.List;

/**
 * Billing for one account.
 * Totals are computed on demand.
 */
public class Billing {
    private static final int LIMIT = 100;

    public Billing(List<Integer> items) {
        this.items = items;
        this.total = 0;
        this.count = items.size();
        this.ready = true;
    }

    public int computeTotal(int discount) throws IllegalStateException {
        int sum = 0;
        for (int item : items) {
            sum += item;
        }
        if (sum > LIMIT) {
            sum -= discount;
        }
        return sum;
    }

    @Override
    public String toString() {
        StringBuilder out = new StringBuilder();
        out.append("Billing(");
        out.append(total);
        out.append(", ");
        out.append(count);
        out.append(")");
        return out.toString();
    }
}
"""

JAVASCRIPT = """import { readFile } from "node:fs/promises";

const RETRIES = 3;

export async function loadConfig(path) {
  const raw = await readFile(path, "utf8");
  const parsed = JSON.parse(raw);
  if (!parsed.name) {
    throw new Error("config needs a name");
  }
  return parsed;
}

const retryDelay = (attempt) => {
  const base = 100;
  const jitter = attempt * 7;
  const capped = Math.min(base * 2 ** attempt, 5000);
  return capped + jitter;
};

class Client {
  constructor(options) {
    this.options = options;
    this.attempts = 0;
    this.closed = false;
    this.queue = [];
  }

  send(message) {
    this.queue.push(message);
    this.attempts += 1;
    if (this.attempts > RETRIES) {
      throw new Error("too many attempts");
    }
    return this.queue.length;
  }
}
"""


def test_java_snippet() -> None:
    out = _compress(JAVA, query="How is Billing.computeTotal computed?", language_hint="java", depth=2)
    assert "sum -= discount;" in out
    assert "public String toString() { /* [… 7 lines omitted] */ }" in out
    assert "public Billing(List<Integer> items) { /* [… 4 lines omitted] */ }" in out
    assert "/** Billing for one account. [… 3 lines omitted] */" in out
    assert "private static final int LIMIT = 100;" in out
    assert "import java.util.List;" in out


def test_javascript_snippet() -> None:
    out = _compress(JAVASCRIPT, query="What does `send` do?", language_hint="javascript", depth=2)
    assert 'throw new Error("too many attempts");' in out
    assert "export async function loadConfig(path) { /* [… 6 lines omitted] */ }" in out
    assert "const retryDelay = (attempt) => { /* [… 4 lines omitted] */ };" in out
    assert "constructor(options) { /* [… 4 lines omitted] */ }" in out
    assert "const RETRIES = 3;" in out


def test_language_detected_without_hint() -> None:
    out = _compress(JAVA, query="", depth=2)
    assert "public String toString() { /* [… 7 lines omitted] */ }" in out


def test_unknown_language_returns_none() -> None:
    ctx = CompressionContext(language_hint="cobol")
    assert CodeCompressor().compress(JAVA, ctx) is None


def test_prose_without_hint_returns_none() -> None:
    prose = "\n".join(f"Paragraph {i} talks about the weather and nothing else at all." for i in range(40))
    assert CodeCompressor().compress(prose, CompressionContext()) is None


def test_syntax_errors_return_none() -> None:
    broken = "\n".join(f"def broken_{i}(:\n    return ]]{i} ((( else:" for i in range(30))
    assert CodeCompressor().compress(broken, CompressionContext(language_hint="python")) is None


def test_code_aware_off_returns_none() -> None:
    text = (CORPUS / "requests_sessions_py.py").read_text()
    ctx = CompressionContext(language_hint="python", code_aware=False)
    assert CodeCompressor().compress(text, ctx) is None


def test_tiny_input_returns_none() -> None:
    tiny = "def f(x):\n    y = x + 1\n    z = y * 2\n    w = z - 3\n    return w\n"
    assert CodeCompressor().compress(tiny, CompressionContext(language_hint="python")) is None


def test_three_thousand_lines_are_fast() -> None:
    names = ("requests_sessions_py.py", "pytest_approx_py.py", "holmes_tool_calling_llm_py.py")
    big = "\n".join((CORPUS / name).read_text() for name in names)
    assert big.count("\n") >= 3000
    ctx = CompressionContext(query="When does requests strip the Authorization header?", language_hint="python")
    compressor = CodeCompressor()
    assert compressor.compress(big, ctx) is not None
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        compressor.compress(big, ctx)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.2


@pytest.mark.parametrize(("payload_id", "text", "language", "meta"), PAYLOADS, ids=IDS)
def test_router_sends_code_here(payload_id: str, text: str, language: str, meta: dict[str, object]) -> None:
    result = compress_block(text, CompressionContext(query=str(meta["question"])))
    assert result is not None
    assert result.transform == f"code:{language}", payload_id


C_SOURCE = """#include <stdio.h>

/* Adds numbers.
 * Overflow is the caller's problem.
 * Kept for the demo.
 */
static int add(int a, int b) {
    int c = a + b;
    c += 0;
    c *= 1;
    c -= 0;
    return c;
}

int main(void) {
    int x = add(1, 2);
    printf("%d", x);
    x++;
    x--;
    return 0;
}
"""


@pytest.mark.parametrize("language", ["c", "cpp"])
def test_c_family_snippet(language: str) -> None:
    out = _compress(C_SOURCE, query="What does main() print?", language_hint=language)
    assert "static int add(int a, int b) { /* [… 5 lines omitted] */ }" in out
    assert "/* Adds numbers. [… 3 lines omitted] */" in out
    assert 'printf("%d", x);' in out


def _numbered(text: str, style: str) -> str:
    lines = text.split("\n")
    if style == "arrow":
        return "\n".join(f"{i + 1:>6}→{line}" for i, line in enumerate(lines[:-1])) + "\n"
    return "\n".join(f"{i + 1:>6}\t{line}" for i, line in enumerate(lines[:-1])) + "\n"


NUMBERED_CASES = [(case, style) for case in PAYLOADS for style in ("arrow", "tab")]


@pytest.mark.parametrize(
    ("case", "style"), NUMBERED_CASES, ids=[f"{case[0]}-{style}" for case, style in NUMBERED_CASES]
)
def test_line_numbered_code_keeps_true_numbers(case: tuple[str, str, str, dict[str, object]], style: str) -> None:
    payload_id, text, language, meta = case
    numbered = _numbered(text, style)
    ctx = CompressionContext(query=str(meta["question"]))
    result = compress_block(numbered, ctx)
    assert result is not None and result.transform == f"code:{language}", payload_id
    plain = CodeCompressor().compress(text, replace(ctx, language_hint=language))
    assert plain is not None
    separator = "→" if style == "arrow" else "\t"
    source = text.split("\n")
    out = result.text.split("\n")
    assert "\n".join(line.partition(separator)[2] for line in out[:-1]) + "\n" == plain.text
    numbers = [int(line.partition(separator)[0]) for line in out[:-1] if line.partition(separator)[0].strip()]
    assert numbers == sorted(set(numbers))
    exact = 0
    for line in out[:-1]:
        number, _, code = line.partition(separator)
        if not number.strip():
            assert "omitted]" in code, line
            continue
        original = source[int(number) - 1]
        exact += code == original
        assert code == original or "omitted]" in code or code.lstrip()[:3] == original.lstrip()[:3], line
    assert exact > 0.8 * len(numbers)
    for needle in meta["needles"]:  # type: ignore[attr-defined]
        assert any(needle in line for line in out), needle
    assert count_tokens(result.text) < 0.6 * count_tokens(numbered)
    assert compress_block(numbered, ctx) == result


def test_numbered_block_followed_by_other_text() -> None:
    source = "\n".join(f"def f{i}(x):\n    y = x + {i}\n    z = y * 2\n    w = z - 1\n    return w" for i in range(6))
    text = _numbered(source + "\n", "arrow") + "\n<system-reminder>file shown in full</system-reminder>\n"
    out = _compress(text, query="what does f3 return?")
    assert out.endswith("\n\n<system-reminder>file shown in full</system-reminder>\n")
    assert "    16→def f3(x):\n    17→    y = x + 3\n" in out
    assert "    26→def f5(x):\n    27→    ...  # [… 4 lines omitted]\n\n<system-reminder>" in out


@pytest.mark.parametrize(
    "text",
    [
        "1\tid\tname\n2\t7\tann\n3\t8\tbob\n4\t9\tcid\n",  # a TSV with an index column, not `cat -n`
        "     1→def f():\n     3→    return 1\n     4→\n",  # numbers that skip
    ],
)
def test_not_line_numbered(text: str) -> None:
    assert split_numbered(text) is None


def test_editor_views_with_colon_numbers_are_code() -> None:
    from headroom.pipeline.detect import ContentKind, detect_kind

    source = ["    def _serialize(self, value, attr, obj):", "        if value is None:", "            return None"]
    lines = [f"{1401 + k}:{source[k % 3]}" for k in range(39)]
    view = "\n".join(["[File: src/pkg/fields.py (1997 lines total)]", "(1400 more lines above)", *lines])
    assert detect_kind(view) is ContentKind.CODE
    clock = "\n".join(f"12:{k:02d}:01 INFO worker {k} started" for k in range(40))
    assert detect_kind(clock) is not ContentKind.CODE
