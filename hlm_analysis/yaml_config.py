"""A config's YAML as the user wrote it.

Two things PyYAML's safe_load does that a config must not:
- a key written twice in one mapping (`predictors:` twice, `{x: group, x: grand}`) silently keeps
  the last; here it is refused, naming the key and both lines;
- plain scalars are typed by YAML 1.1: a column `010` becomes the number 8, `1.50` becomes 1.5,
  `yes`/`No` become booleans, `2024-01-01` a date. In the keys whose values are names and text
  (columns, levels, labels, titles, addresses: TEXT_KEYS) every plain scalar is kept as its
  source text instead, so names match the data as written; `~`, `null` and an empty value still
  mean "not given". Everywhere else (numbers such as `nagq`, flags) YAML's types are kept.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import InputError

# Top-level keys whose whole value is names or text. Inside stakeholders, `report:` is a flag.
TEXT_KEYS = frozenset(
    {
        "title", "subtitle", "author", "data", "outcome", "group", "predictors",
        "random_slopes", "interactions", "contextual", "levers", "event", "missing_values",
        "labels", "centering", "reference", "unit", "unit_plural", "group_noun",
        "group_plural", "name", "engine", "family", "time", "question", "level_labels",
        "event_label", "effect_sizes", "paper", "stakeholders", "site", "from", "signature",
        "not_missing",
    }
)  # fmt: skip
TYPED_INSIDE_TEXT = frozenset({"report"})
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKey(Exception):
    def __init__(self, key: object, first: int, second: int):
        super().__init__(
            f"key {key!r} is written twice in one mapping (lines {first} and {second})"
        )


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in every mapping it constructs."""

    def __init__(self, stream):
        super().__init__(stream)
        self.checked: set[int] = set()

    def check_duplicates(self, node: MappingNode, as_text: bool) -> None:
        # Before flatten_mapping: merged keys (<<) may be overridden, written ones may not.
        if id(node) in self.checked:
            return
        self.checked.add(id(node))
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            if isinstance(key_node, ScalarNode):
                key = key_node.value if as_text else self.construct_object(key_node, deep=True)
            else:
                continue  # a list or mapping as a key: refused later as no name
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # unhashable: refused later as no name
                continue

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            self.check_duplicates(node, as_text=False)
        return super().construct_mapping(node, deep=deep)


class _Text:
    """Builds the values under TEXT_KEYS from the nodes, plain scalars as written."""

    def __init__(self, loader: _Loader, where: str):
        self.loader, self.where = loader, where
        self.done: dict[int, object] = {}
        self.busy: set[int] = set()

    def build(self, node):
        if isinstance(node, ScalarNode):
            return None if node.tag == _NULL else node.value
        if id(node) in self.done:  # an alias: built once, shared (no exponential expansion)
            return self.done[id(node)]
        if id(node) in self.busy:
            raise InputError(f"{self.where}: a YAML alias refers to the collection it is in")
        self.busy.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                value = [self.build(child) for child in node.value]
            else:
                value = self.mapping(node)
        finally:
            self.busy.discard(id(node))
        self.done[id(node)] = value
        return value

    def mapping(self, node: MappingNode) -> dict:
        self.loader.check_duplicates(node, as_text=True)
        self.loader.flatten_mapping(node)
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _NULL:
                line = key_node.start_mark.line + 1
                raise InputError(
                    f"{self.where}: line {line}: a key must be a name, not a list or mapping"
                )
            key = key_node.value
            if key in TYPED_INSIDE_TEXT:
                out[key] = self.loader.construct_object(value_node, deep=True)
            else:
                out[key] = self.build(value_node)
        return out


# A config is a handful of keys and short lists. Aliases can make a short file stand for an
# exponential number of values ("billion laughs"); anything that walks the values (a validator,
# a normaliser) would then run out of memory, so the expanded size is bounded first.
MAX_EXPANDED_VALUES = 100_000


def _expanded_size(root, where: str) -> int:
    """How many values the document stands for with every alias expanded, counted without
    expanding (each node once, its size reused), stopping as soon as the bound is passed."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node) -> int:
        if isinstance(node, ScalarNode):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in busy:
            raise InputError(f"{where}: a YAML alias refers to the collection it is in")
        busy.add(id(node))
        children = (
            node.value
            if isinstance(node, SequenceNode)
            else [child for pair in node.value for child in pair]
        )
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_VALUES:
                raise InputError(
                    f"{where}: YAML aliases expand to more than {MAX_EXPANDED_VALUES:,} values; "
                    "a config is a mapping of a few keys"
                )
        busy.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def load(text: str, where: str):
    """The document's value: a dict of keys for a config (anything else is returned as YAML
    reads it, for the caller to refuse). Raises yaml.YAMLError for bad YAML and InputError
    (starting with `where`, the file) for a duplicate key."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        if not isinstance(node, MappingNode):
            return loader.construct_document(node)
        loader.check_duplicates(node, as_text=False)
        loader.flatten_mapping(node)
        text_builder = _Text(loader, where)
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in TEXT_KEYS:
                out[key] = text_builder.build(value_node)
            else:
                out[key] = loader.construct_object(value_node, deep=True)
        return out
    except DuplicateKey as exc:
        raise InputError(f"{where}: {exc}; keep one") from None
    finally:
        loader.dispose()
