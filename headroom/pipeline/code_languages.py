"""Per-language tables for the code compressor: which tree-sitter grammar wheel parses a language, which nodes
are functions whose bodies may be elided, which name the enclosing type, and which are comments.

Grammars come from the individual wheels (`tree-sitter-python`, …), never from a run-time download; each
parser is built once per process.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from tree_sitter import Language, Parser

_JS_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "function",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_JS_CONTAINERS = frozenset({"class_declaration", "class", "abstract_class_declaration"})


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """How one language's syntax tree is read.

    `functions` are node types whose `body` field (when it is one of `bodies`) may be elided; `containers`
    are node types whose name qualifies the functions inside them (`Class.method`); `wrappers` are nodes that
    wrap a definition together with its decorators or `export` keyword, so a doc comment before the wrapper
    belongs to the definition; `indented` marks languages whose bodies are delimited by indentation.
    """

    name: str
    module: str
    entry: str
    functions: frozenset[str]
    bodies: frozenset[str]
    containers: frozenset[str]
    comments: frozenset[str]
    wrappers: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    indented: bool = False
    test_modules: frozenset[str] = frozenset()


SPECS: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            name="python",
            module="tree_sitter_python",
            entry="language",
            functions=frozenset({"function_definition"}),
            bodies=frozenset({"block"}),
            containers=frozenset({"class_definition"}),
            comments=frozenset({"comment"}),
            wrappers=frozenset({"decorated_definition"}),
            indented=True,
        ),
        LanguageSpec(
            name="javascript",
            module="tree_sitter_javascript",
            entry="language",
            functions=_JS_FUNCTIONS,
            bodies=frozenset({"statement_block"}),
            containers=_JS_CONTAINERS,
            comments=frozenset({"comment"}),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            name="typescript",
            module="tree_sitter_typescript",
            entry="language_typescript",
            functions=_JS_FUNCTIONS,
            bodies=frozenset({"statement_block"}),
            containers=_JS_CONTAINERS | {"interface_declaration", "internal_module", "module"},
            comments=frozenset({"comment"}),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            name="tsx",
            module="tree_sitter_typescript",
            entry="language_tsx",
            functions=_JS_FUNCTIONS,
            bodies=frozenset({"statement_block"}),
            containers=_JS_CONTAINERS | {"interface_declaration", "internal_module", "module"},
            comments=frozenset({"comment"}),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            name="go",
            module="tree_sitter_go",
            entry="language",
            functions=frozenset({"function_declaration", "method_declaration", "func_literal"}),
            bodies=frozenset({"block"}),
            containers=frozenset(),
            comments=frozenset({"comment"}),
        ),
        LanguageSpec(
            name="rust",
            module="tree_sitter_rust",
            entry="language",
            functions=frozenset({"function_item"}),
            bodies=frozenset({"block"}),
            containers=frozenset({"impl_item", "trait_item", "mod_item"}),
            comments=frozenset({"line_comment", "block_comment"}),
            attributes=frozenset({"attribute_item"}),
            test_modules=frozenset({"tests", "test"}),
        ),
        LanguageSpec(
            name="java",
            module="tree_sitter_java",
            entry="language",
            functions=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
            bodies=frozenset({"block", "constructor_body"}),
            containers=frozenset(
                {"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"}
            ),
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        LanguageSpec(
            name="c",
            module="tree_sitter_c",
            entry="language",
            functions=frozenset({"function_definition"}),
            bodies=frozenset({"compound_statement"}),
            containers=frozenset({"struct_specifier"}),
            comments=frozenset({"comment"}),
        ),
        LanguageSpec(
            name="cpp",
            module="tree_sitter_cpp",
            entry="language",
            functions=frozenset({"function_definition"}),
            bodies=frozenset({"compound_statement"}),
            containers=frozenset({"class_specifier", "struct_specifier", "namespace_definition"}),
            comments=frozenset({"comment"}),
        ),
    )
}

_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "node": "javascript",
    "ts": "typescript",
    "golang": "go",
    "rs": "rust",
    "h": "c",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
}

# A parse that fails with the hinted grammar is retried with a close relative (detection often confuses them).
_FALLBACKS = {"javascript": "typescript", "typescript": "tsx", "c": "cpp", "tsx": "typescript"}


def spec_for(language: str) -> LanguageSpec | None:
    """The table for a language name or common alias ("py", "ts", "golang", …); None when unsupported."""
    name = language.strip().lower()
    return SPECS.get(_ALIASES.get(name, name))


def fallback_for(spec: LanguageSpec) -> LanguageSpec | None:
    """The grammar to try when `spec`'s grammar cannot parse the text cleanly."""
    other = _FALLBACKS.get(spec.name)
    return SPECS[other] if other else None


@functools.cache
def parser_for(name: str) -> Parser | None:
    """The parser for a language of SPECS, built once per process; None when its grammar wheel is missing."""
    spec = SPECS[name]
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError:
        return None
    return Parser(Language(getattr(module, spec.entry)()))
