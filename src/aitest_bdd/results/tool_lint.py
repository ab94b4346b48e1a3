"""Tool lint: what in the MCP tools' definitions makes them harder for a model to use well, each with its fix.

The rules are pure functions of the definitions a run was offered (`OfferedTool`, with parameters and
annotations). A definition known only from a recording has no annotations: the rules on them skip it. Nor has
a tool an app offered its model, which has no known server either: its findings name the server `(app)`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..conversation.turns import OfferedTool
from .tool_surface import LintFinding

SHORT_DESCRIPTION = 20
"""A tool description shorter than this many characters says too little to choose the tool by."""
_QUOTED = r"""(?:'[^'\s][^']{0,40}'|"[^"\s][^"]{0,40}"|`[^`\s][^`]{0,40}`)"""
_ASIDE = r"(?:\s*\([^()]{0,40}\))?"
_JOIN = r"(?:\s*,\s*(?:or\s+)?|\s*[/|]\s*|\s+or\s+)"
_QUOTED_CHOICES = re.compile(rf"{_QUOTED}{_ASIDE}(?:{_JOIN}{_QUOTED}{_ASIDE})+")
_QUOTE_TOKEN = re.compile(_QUOTED)
_NAMED_CHOICES = re.compile(
    r"\b(?:one of|(?:allowed|accepted|possible|valid) values(?: are)?)\s*:?\s*(?P<values>[^.;()\n]+)", re.IGNORECASE
)
_EXAMPLES = re.compile(r"(?:e\.g\.|for example|such as|like)\s*:?\s*$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\W_]+")
_NOT_CHOICES = frozenset({"boolean", "object", "array"})
APP_SERVER = "(app)"
"""The server a finding names for a tool an app offered its model."""


def lint(definitions: list[OfferedTool]) -> tuple[list[LintFinding], list[str]]:
    """Every finding on `definitions`, sorted by server, tool and field, and the checks that could not run."""
    findings: dict[tuple[str, ...], LintFinding] = {}
    for tool in definitions:
        for finding in [*description_findings(tool), *parameter_findings(tool), *annotation_findings(tool)]:
            findings.setdefault((finding.rule, finding.server, finding.tool, finding.field), finding)
    for finding in [*similar_names(definitions), *changed_definitions(definitions)]:
        findings.setdefault((finding.rule, finding.server, finding.tool, finding.field), finding)
    unannotated = sorted({(tool.server, tool.name) for tool in definitions if tool.annotations is None and tool.server})
    not_checked = []
    if from_apps := sorted({tool.name for tool in definitions if tool.server is None}):
        not_checked.append(
            f"readOnlyHint and destructiveHint not checked on {', '.join(from_apps)}: tools an app offered its model, "
            "whose requests carry no MCP annotations"
        )
    if unannotated:
        names = ", ".join(f"{name} ({server})" for server, name in unannotated)
        not_checked.append(
            f"readOnlyHint and destructiveHint, and changes between sessions, not checked on {names}: known only "
            "from recordings made before annotations were kept (re-record them, or run live, to check)"
        )
    ordered = sorted(findings.values(), key=lambda finding: (finding.server, finding.tool, finding.field, finding.rule))
    return ordered, not_checked


def _finding(rule: str, tool: OfferedTool, field: str, problem: str, fix: str) -> LintFinding:
    server = tool.server or APP_SERVER
    return LintFinding(rule=rule, server=server, tool=tool.name, field=field, problem=problem, fix=fix)


def description_findings(tool: OfferedTool) -> Iterator[LintFinding]:
    """A tool with no description, or one too short to choose the tool by."""
    text = tool.description.strip()
    if not text:
        yield _finding(
            "no-description",
            tool,
            "description",
            "the tool has no description",
            "describe what the tool does, when to use it and what it returns",
        )
    elif len(text) < SHORT_DESCRIPTION:
        yield _finding(
            "short-description",
            tool,
            "description",
            f"the description {text!r} is shorter than {SHORT_DESCRIPTION} characters",
            "say what the tool does, when to use it and what it returns",
        )


def parameter_findings(tool: OfferedTool) -> Iterator[LintFinding]:
    """Top-level parameters with no description, or whose description lists a closed set of values without `enum`."""
    schema = tool.parameters or {}
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        description = str(spec.get("description") or "").strip()
        if not description:
            yield _finding(
                "parameter-without-description",
                tool,
                f"parameters.{name}",
                f"parameter {name!r} has no description",
                "describe what it means and its format or unit (in Python: Annotated[..., Field(description=...)])",
            )
            continue
        values = listed_values(description)
        if values and closed_values(spec, schema) is None and spec.get("type") not in _NOT_CHOICES:
            yield _finding(
                "closed-values-without-enum",
                tool,
                f"parameters.{name}",
                f"parameter {name!r} lists its values in words ({', '.join(values)}) but has no enum",
                f'add "enum": {json.dumps(values)} to its schema (in Python: Literal[...])',
            )


def listed_values(description: str) -> list[str]:
    """The values a description names as the only choices: `'a' or 'b'`, `"a", "b" or "c"`, `one of: a, b, c`.

    Quoted values joined by "or", "/" or "|" count (an aside like `(default)` may follow each); a list after
    "one of" or "allowed values" counts; values given as examples (`e.g. 'a' or 'b'`) do not."""
    for found in _QUOTED_CHOICES.finditer(description):
        joined = _QUOTE_TOKEN.sub("", found[0])
        if re.search(r"\bor\b|[/|]", joined) and not _EXAMPLES.search(description[: found.start()]):
            return [token[1:-1] for token in _QUOTE_TOKEN.findall(found[0])]
    named = _NAMED_CHOICES.search(description)
    if named:
        values = [value.strip(" '\"`") for value in re.split(r",|\bor\b", named["values"])]
        values = [value for value in values if value]
        if len(values) >= 2 and all(len(value) <= 30 and len(value.split()) <= 3 for value in values):
            return values
    return []


def closed_values(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any] | None:
    """The values a property's schema allows when it names them (`enum`, `const`, or those in `anyOf` / `oneOf`,
    following a local `$ref`); None when it does not."""
    spec = _resolved(spec, schema)
    if isinstance(spec.get("enum"), list):
        return list(spec["enum"])
    if "const" in spec:
        return [spec["const"]]
    values: list[Any] = []
    for option in [*(spec.get("anyOf") or []), *(spec.get("oneOf") or [])]:
        if isinstance(option, dict):
            values += closed_values(option, schema) or []
    return values or None


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = spec.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        target = (schema.get("$defs") or {}).get(reference.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return {**target, **{key: value for key, value in spec.items() if key != "$ref"}}
    return spec


def annotation_findings(tool: OfferedTool) -> Iterator[LintFinding]:
    """Missing `readOnlyHint`, and missing `destructiveHint` on a tool that is not read-only (the MCP spec reads it
    only then). A tool known only from a recording has no annotations to check."""
    if tool.annotations is None:
        return
    if "readOnlyHint" not in tool.annotations:
        yield _finding(
            "missing-read-only-hint",
            tool,
            "annotations.readOnlyHint",
            "the tool does not say whether it changes anything",
            "set annotations readOnlyHint: true if the tool changes nothing, false if it does",
        )
    if tool.annotations.get("readOnlyHint") is not True and "destructiveHint" not in tool.annotations:
        yield _finding(
            "missing-destructive-hint",
            tool,
            "annotations.destructiveHint",
            "the tool may change things and does not say whether it deletes or overwrites",
            "set annotations destructiveHint: true if it may delete or overwrite, false if it only adds",
        )


def similar_names(definitions: list[OfferedTool]) -> Iterator[LintFinding]:
    """Tools of one server whose names differ only in case or separators (`get_balance`, `getBalance`)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    tools: dict[tuple[str, str], OfferedTool] = {}
    for tool in definitions:
        groups[(tool.server or "", _SEPARATORS.sub("", tool.name).lower())].add(tool.name)
        tools[(tool.server or "", tool.name)] = tool
    for (server, _normal), names in groups.items():
        for name in sorted(names) if len(names) > 1 else []:
            others = ", ".join(sorted(names - {name}))
            yield _finding(
                "similar-names",
                tools[(server, name)],
                "name",
                f"the name differs from {others} only in case or separators",
                "give the tools names that differ in words, in one style (e.g. snake_case)",
            )


def changed_definitions(definitions: list[OfferedTool]) -> Iterator[LintFinding]:
    """A tool whose definition changed between sessions of the run (same server, same name); only definitions
    seen live are compared."""
    versions: dict[tuple[str, str], list[OfferedTool]] = defaultdict(list)
    for tool in definitions:
        if tool.annotations is not None:
            versions[(tool.server or "", tool.name)].append(tool)
    for tools in versions.values():
        if len(tools) < 2:
            continue
        first = tools[0]
        fields = [
            name
            for name in ("description", "parameters", "annotations")
            if any(getattr(tool, name) != getattr(first, name) for tool in tools[1:])
        ]
        yield _finding(
            "changing-definition",
            first,
            ", ".join(fields),
            f"tools/list gave {len(tools)} different definitions of the tool in one run (its {', '.join(fields)})",
            "list the same definition in every session, or give servers that differ different names",
        )
