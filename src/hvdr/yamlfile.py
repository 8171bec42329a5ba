"""YAML files read safely: parsed once, by PyYAML's safe loader with limits.

Refused, each with the mark (line) where it stands, in milliseconds: a key repeated in one mapping (the last
one would silently win — a second ``vms:`` section deletes the first one's VMs), nesting deeper than
``MAX_DEPTH``, aliases that expand to more than ``MAX_ALIAS_EXPANSION`` nodes (an "alias bomb"), recursive
aliases and lone surrogates. Every problem, these and plain YAML syntax errors, is one ``YAMLRefused`` with a
one-line message and the line where known.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner, ScannerError

from hvdr.display import describe_character

MAX_DEPTH = 64
"""Nesting levels a document may use (a topology needs about ten), counting what aliases bring in."""
MAX_ALIAS_EXPANSION = 100_000
"""Nodes that aliases may add to a document in all."""


class YAMLRefused(Exception):
    """A YAML document that cannot be used: a one-line message and, where known, its line (1-based)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


def decode_utf8(raw: bytes) -> str:
    """A file's bytes as text; a byte that is not UTF-8 is refused with its line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YAMLRefused(line, f"byte 0x{raw[exc.start]:02x} is not UTF-8: save the file as UTF-8") from exc


class _LimitedComposer(Composer):
    """PyYAML's composer with limits on nesting and alias expansion and no repeated keys (over either parser)."""

    def _limits(self) -> None:
        self._depth = 0
        self._expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
        self._alias_nodes = 0

    def _refuse(self, message: str, mark: yaml.Mark | None) -> NoReturn:
        raise ComposerError(None, None, message, mark)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        alias = self.check_event(yaml.AliasEvent)  # type: ignore[attr-defined]
        mark = self.peek_event().start_mark  # type: ignore[attr-defined]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels; a topology needs about ten", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        if alias:
            if id(node) not in self._expanded:
                self._refuse("an alias refers to the collection that contains it (a recursive structure)", mark)
            size, depth = self._expanded[id(node)]
            self._alias_nodes += size
            if self._alias_nodes > MAX_ALIAS_EXPANSION:
                self._refuse(
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (an alias bomb?); "
                    "write the repeated parts out or use fewer aliases",
                    mark,
                )
        else:
            size, depth = self._measure(node)
        if self._depth + depth > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded", mark)
        return node

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            bad = next((c for c in node.value if 0xD800 <= ord(c) <= 0xDFFF), None)
            if bad is not None:
                self._refuse(f"{describe_character(bad)} in a string: text must be valid Unicode", node.start_mark)
            measured = (1, 1)
        else:
            children: list[yaml.Node] = (
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
            )
            sizes = [self._expanded[id(child)] for child in children]
            measured = (1 + sum(s for s, _ in sizes), 1 + max((d for _, d in sizes), default=0))
        self._expanded[id(node)] = measured
        return measured

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        first: dict[str, int] = {}
        for key, _value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            if key.value in first:
                what = "section" if self._depth <= 1 else "key"
                self._refuse(
                    f"{what} {key.value!r} appears twice in one mapping (first at line {first[key.value]}); "
                    "the second would silently replace the first: merge them or remove one",
                    key.start_mark,
                )
            first[key.value] = key.start_mark.line + 1
        return node


class SafeLimitedLoader(Reader, Scanner, Parser, _LimitedComposer, SafeConstructor, Resolver):
    """PyYAML's safe loader in Python, with the composer's limits."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _LimitedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._limits()

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner reads ahead through nested [ and { with quadratic cost; stop before the composer would.
        if self.flow_level >= MAX_DEPTH:
            raise ScannerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels; a topology needs about ten", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)


try:
    from yaml import cyaml

    _CParser: Any = cyaml.CParser  # type: ignore[attr-defined]  # libyaml's parser, where PyYAML was built with it
except (ImportError, AttributeError):
    _CParser = Parser  # never used: load_yaml parses in Python then


class FastLimitedLoader(_LimitedComposer, _CParser, SafeConstructor, Resolver):  # type: ignore[misc]
    """libyaml's scanner and parser under the same composer (where PyYAML has libyaml): parsing a 1,000-VM
    topology in Python took seconds of CPU in ``hvdr apply`` and again in ``hvdr lab up``."""

    def __init__(self, text: str) -> None:
        _CParser.__init__(self, text)
        _LimitedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._limits()


def load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its plain data, from one parse; else YAMLRefused.

    Parsed by libyaml where PyYAML has it; a document it refuses is parsed again in Python, whose errors are the
    ones users see (they name the offending character, the nesting limit), so both paths say the same."""
    if yaml.__with_libyaml__:
        try:
            return _load(FastLimitedLoader, text)
        except YAMLRefused:
            pass
    return _load(SafeLimitedLoader, text)


def _load(kind: type[_LimitedComposer], text: str) -> tuple[yaml.Node | None, Any]:
    loader: _LimitedComposer | None = None
    try:
        loader = kind(text)  # type: ignore[call-arg]
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)  # type: ignore[attr-defined]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YAMLRefused(line, f"not valid YAML: {_one_line(exc.problem or exc)}") from exc
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        character = describe_character(chr(exc.character)) if isinstance(exc.character, int) else "a character"
        raise YAMLRefused(line, f"not valid YAML: {character} is not allowed in a YAML file") from exc
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise YAMLRefused(None, f"not valid YAML: {_one_line(exc)}") from exc
    finally:
        if loader is not None:
            loader.dispose()  # type: ignore[attr-defined]


def _one_line(problem: object) -> str:
    text = str(problem)
    return text.splitlines()[0] if text else type(problem).__name__
