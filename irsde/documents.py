"""Reading the YAML and JSON documents irsde reads: one loader for each format.

Every YAML document the project reads goes through :func:`load_yaml` / :func:`read_yaml_file`:
training configs (``irsde train --config`` and ``--set`` values), a run's ``config.yaml``, the
pipeline's config files (re-read by the workflow before it validates them) and the schema
files. It is YAML's safe subset (no Python tags) with two more refusals, each naming the file
and line:

* a key given twice in one mapping (YAML's own rule; PyYAML would keep the last one silently);
* a document whose aliases expand it beyond :data:`MAX_YAML_NODES` values, or that refers to
  itself: a few hundred bytes of nested anchors ("billion laughs") otherwise expand to billions
  of values that validation would walk for hours. The size is counted on the parsed node graph,
  in time linear in the file, before anything is built.

Every JSON record irsde reads back (``restore.json``, a git-tree ``.listing.json`` ...) goes
through :func:`read_json_object`: a missing, truncated or non-object file is one
:class:`DocumentError` naming the file and what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

MAX_YAML_NODES = 100_000
"""Most values (scalars, lists and mappings, every alias counted as a copy) a YAML document may
expand to; the pipeline's largest config has a few hundred."""

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class DocumentError(ValueError):
    """A YAML or JSON document cannot be used; the message names it (and the line)."""


class _DocumentTooLarge(yaml.YAMLError):
    def __init__(self, message: str, mark):
        super().__init__(message)
        self.message, self.mark = message, mark


class _CheckedLoader(_Loader):
    """Safe YAML that refuses duplicate keys and bounds the document's expanded size."""

    def construct_document(self, node):
        _check_expanded_size(node)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(self, node)
        return super().construct_mapping(node, deep)


def _check_unique_keys(loader: yaml.BaseLoader, node: yaml.MappingNode) -> None:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first on line {seen[key]}); "
                f"keep one: YAML readers differ on which one wins", key_node.start_mark)
        seen[key] = line


def _check_expanded_size(root) -> None:
    """Count the values ``root`` expands to (aliases counted in full), memoised per node."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _DocumentTooLarge("an alias refers to a value that contains it (a document of infinite size)",
                                    node.start_mark)
        open_nodes.add(id(node))
        children = [] if isinstance(node, yaml.ScalarNode) else (
            [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else node.value)
        total = 1 + sum(size(child) for child in children)
        open_nodes.discard(id(node))
        if total > MAX_YAML_NODES:
            raise _DocumentTooLarge(
                f"its anchors and aliases expand it to more than {MAX_YAML_NODES} values (an 'anchor bomb'?); "
                f"write the values out, or use fewer aliases", node.start_mark)
        sizes[id(node)] = total
        return total

    size(root)


def load_yaml(text: str, source: str):
    """The YAML document ``text`` (None when empty); ``source`` names it in errors (a file, a
    ``--set`` option). Raises :class:`DocumentError` naming ``source`` and the line at fault."""
    try:
        return yaml.load(text, Loader=_CheckedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise DocumentError(f"{source}: {_yaml_problem(error)}") from None
    except RecursionError:
        raise DocumentError(f"{source}: nested too deeply to read") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    if isinstance(error, _DocumentTooLarge):
        return f"{where}{error.message}"
    problem = getattr(error, "problem", None) or str(error)
    if isinstance(error, yaml.constructor.ConstructorError) and "could not determine a constructor" in problem:
        return f"{where}{problem}: irsde reads plain YAML only (no Python objects); write the value itself"
    context = getattr(error, "context", None)
    return f"{where}{problem}" + (f" ({context})" if context and "appears twice" not in problem else "")


def read_yaml_file(path: str | os.PathLike, what: str = "YAML file", mapping: bool = True):
    """The YAML document in ``path`` (see :func:`load_yaml`); ``what`` says what it is in
    errors (``config file`` ...). With ``mapping`` the top level must be a mapping: an empty
    file or a bare value is a :class:`DocumentError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DocumentError(f"{what} {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    document = load_yaml(text, f"{what} {path}")
    if mapping and not isinstance(document, Mapping):
        found = "nothing (the file is empty)" if document is None else f"a {type(document).__name__}"
        raise DocumentError(f"{what} {path}: the top level must be a mapping of keys to values, found {found}")
    return document


def read_json_object(path: str | os.PathLike, what: str, advice: str) -> dict:
    """The JSON object in ``path``; :class:`DocumentError` naming ``what``, the file and
    ``advice`` (what to do) when it is missing, truncated, not JSON or not an object."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError(f"{what} {path} is missing; {advice}") from None
    except (ValueError, UnicodeDecodeError) as error:
        size = path.stat().st_size
        raise DocumentError(f"{what} {path} is not valid JSON ({size} bytes; {error}): truncated or damaged; "
                            f"{advice}") from None
    if not isinstance(document, dict):
        raise DocumentError(f"{what} {path} holds a JSON {type(document).__name__}, not an object; {advice}")
    return document
