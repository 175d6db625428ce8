"""The JSON Schema of results.json, derived from the dataclasses of `results.py`.

Generated, not hand-written: a field added to a dataclass is in the schema the moment it exists,
so the published schema cannot drift from what `results.write_json` writes and
`results.read_json` accepts (the same rules: every field named, no unknown keys, a float may be
null because JSON has no NaN, enums by value). The config block is pydantic's own schema of
`Spec`, in the form `Spec.to_json` writes it.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any

from . import results
from .spec import Spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = f"https://hlm-report.invalid/results.schema.v{results.SCHEMA_VERSION}.json"


_PROBABILITIES = frozenset({"p_value", "robust_p", "p_value_naive"})


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, str]:
        return {"$ref": f"#/$defs/{name}"}

    def of(self, tp: Any) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            # results' bounded floats: pydantic's Field(ge=, le=) as JSON Schema's own words
            out = dict(self.of(args[0]))
            for bound in (b for c in args[1:] for b in getattr(c, "metadata", [c])):
                if getattr(bound, "ge", None) is not None:
                    out["minimum"] = bound.ge
                if getattr(bound, "le", None) is not None:
                    out["maximum"] = bound.le
            return out
        if origin in (typing.Union, types.UnionType):
            options = [self.of(a) for a in args if a is not type(None)]
            allowed = options + ([{"type": "null"}] if type(None) in args else [])
            return allowed[0] if len(allowed) == 1 else {"anyOf": allowed}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {
                "type": "array",
                "prefixItems": [self.of(a) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        if origin is list:
            return {"type": "array", "items": self.of(args[0])}
        if origin is dict:
            key, value = args
            out: dict[str, Any] = {"type": "object", "additionalProperties": self.of(value)}
            if isinstance(key, type) and issubclass(key, Enum):
                out["propertyNames"] = {"enum": [m.value for m in key]}
            return out
        if tp is Spec:
            return self.spec()
        if isinstance(tp, type) and issubclass(tp, Enum):
            return self.enum(tp)
        if is_dataclass(tp):
            return self.dataclass(tp)
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            # every integer of results.json is a count, a size, a df or a seed: none is negative
            return {"type": "integer", "minimum": 0}
        if tp is float:
            # non-finite floats are written as null (results._plain); readers turn null into NaN
            return {"type": ["number", "null"]}
        if tp is str:
            return {"type": "string"}
        if tp is Any:
            return {}
        raise TypeError(f"no JSON Schema for the type {tp!r} in results.py")

    def enum(self, tp: type[Enum]) -> dict[str, str]:
        if tp.__name__ not in self.defs:
            self.defs[tp.__name__] = {"enum": [m.value for m in tp]}
        return self.ref(tp.__name__)

    def dataclass(self, tp: type) -> dict[str, str]:
        name = tp.__name__
        if name in self.defs:
            return self.ref(name)
        self.defs[name] = {}  # placeholder first: a recursive type would find itself
        hints = typing.get_type_hints(tp, include_extras=True)
        props = {f.name: self.of(hints[f.name]) for f in fields(tp)}
        for field in props:
            if field.endswith("_sha256"):  # a SHA-256 digest as hashlib's hexdigest() writes it
                props[field] = {**props[field], "pattern": "^[0-9a-f]{64}$"}
            if field in _PROBABILITIES:  # a p-value of 2 or -1 is no result of this package
                props[field] = {**props[field], "minimum": 0, "maximum": 1}
        required = [
            f.name for f in fields(tp) if f.default is MISSING and f.default_factory is MISSING
        ]
        if tp is results.Results:
            props["schema_version"] = {"const": results.SCHEMA_VERSION}
            required.append("schema_version")  # readers refuse a file without it
        self.defs[name] = {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
        doc = (tp.__doc__ or "").strip()
        if doc and not doc.startswith(f"{name}("):  # not the dataclass's generated signature
            self.defs[name]["description"] = " ".join(doc.split())
        # rules across fields (a VarianceComponent's scale depends on its term2)
        self.defs[name].update(getattr(tp, "JSON_SCHEMA_RULES", {}))
        return self.ref(name)

    def spec(self) -> dict[str, str]:
        if "Spec" not in self.defs:
            schema = Spec.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                if name in self.defs:
                    raise TypeError(f"Spec's schema and results.py both define {name!r}")
                self.defs[name] = sub
            self.defs["Spec"] = schema
        return self.ref("Spec")


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every results.json of this version satisfies."""
    builder = _Builder()
    root = builder.dataclass(results.Results)
    body = builder.defs.pop("Results")
    del root
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": f"hlm-report results.json, schema_version {results.SCHEMA_VERSION}",
        **body,
        "$defs": dict(sorted(builder.defs.items())),
    }


def schema_text() -> str:
    return json.dumps(results_schema(), indent=2, ensure_ascii=False) + "\n"
