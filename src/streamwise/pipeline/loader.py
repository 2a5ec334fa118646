"""Loads a pipeline YAML file and turns validation errors into messages with file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from streamwise.pipeline.exceptions import PipelineError
from streamwise.pipeline.spec import STEP_TYPES, PipelineSpec


class SpecError(PipelineError):
    """A pipeline file is not valid; the message names the file, line and field."""


def load_pipeline(path: Path | str) -> PipelineSpec:
    """Read, parse and validate a pipeline file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such pipeline file", hint="pass a path to a .yaml file, e.g. pipelines/clickstream.yaml"
        ) from None
    return parse_pipeline(text, source=str(path))


def parse_pipeline(text: str, *, source: str = "<string>") -> PipelineSpec:
    """Validate YAML text as a :class:`PipelineSpec`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise SpecError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    _reject_boolean_keys(root, source)
    if not isinstance(data, dict):
        raise SpecError(f"{source}:1: a pipeline file must be a mapping with name, source, steps and sinks")
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, root, source)) from None


def _reject_boolean_keys(node: yaml.Node | None, source: str) -> None:
    """YAML 1.1 reads a bare ``on:`` or ``yes:`` key as a boolean; say so instead of 'Keys should be strings'."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.tag.endswith(":bool"):
                raise SpecError(
                    f"{source}:{key.start_mark.line + 1}: key {key.value!r} is read by YAML as a boolean",
                    hint=f"quote it ('{key.value}': ...), or use the field's name (a join's condition is 'condition')",
                )
            _reject_boolean_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_boolean_keys(item, source)


def _describe(exc: ValidationError, root: yaml.Node, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"]]
        line = _line_of(root, loc)
        field = _dotted(loc)
        lines.append(f"{source}:{line}: {field}: {_message(err)}")
    return "invalid pipeline\n  " + "\n  ".join(lines)


def _message(err: ErrorDetails) -> str:
    if err["type"] == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        loc = err["loc"]
        if "steps" in loc:
            return f"unknown step type {tag!r}; allowed: {', '.join(STEP_TYPES)}"
        return f"unknown type {tag!r}; allowed: {err.get('ctx', {}).get('expected_tags')}"
    if err["type"] == "union_tag_not_found":
        return "each entry needs a 'type' (e.g. type: filter)"
    if err["type"] == "missing":
        return "is required but missing"
    if err["type"] == "extra_forbidden":
        return "is not a known field here (check its spelling)"
    msg = err["msg"].removeprefix("Value error, ")
    if _SECRET_FIELDS & {str(p) for p in err["loc"]}:
        return msg  # a webhook's URL or header may hold a token: never echoed
    return f"{msg} (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict | list) else msg


# Fields whose values a refusal does not repeat (a webhook URL's query or path, a header's value).
_SECRET_FIELDS = {"url", "headers"}


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _line_of(node: yaml.Node, loc: list[Any]) -> int:
    """The 1-based line of the deepest YAML node ``loc`` reaches (loc parts YAML lacks, such as a
    union's tag or a missing key, stop the walk at their parent)."""
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
            if child is not None:
                key = next(k for k, _ in node.value if k.value == part)
                line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            continue  # e.g. the discriminator tag pydantic puts in loc: same node, go on
        node = child
    return line
