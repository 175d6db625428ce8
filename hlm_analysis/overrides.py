"""`render -P key=value`: config keys set from the command line (Quarto's `-P`).

Each value is read as the config's YAML reads it (yaml_config: names and text stay as written,
numbers and flags typed), so `-P predictors=[read,math]`, `-P nagq=5` and `-P title=Scores: 2024`
mean what they would in the file. A dotted key sets one entry of a mapping
(`-P labels.write="Writing score"`, `-P profiles.min_size=5`). The merged config is then
validated exactly as the file is (spec.load_spec), so a bad value stops the same way.
"""

from __future__ import annotations

import difflib

import yaml

from . import yaml_config
from .errors import InputError
from .spec import Spec


def _known_keys() -> list[str]:
    return [f.alias or name for name, f in Spec.model_fields.items()]


def _refuse_key(key: str, pair: str) -> None:
    known = _known_keys()
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InputError(f"-P {pair}: unknown config key '{key}'{hint}")


def parse(pairs: list[str] | None) -> dict:
    """`key=value` strings to a nested mapping of config keys; InputError (exit 2) for a pair
    with no `=`, an unknown key or a value that is not YAML."""
    merged: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"-P {pair!r}: write key=value, e.g. -P title='Writing scores'")
        top, *inner = key.split(".")
        if top not in _known_keys():
            _refuse_key(top, pair)
        if any(not part for part in inner):
            raise InputError(f"-P {pair}: '{key}' has an empty part between dots")
        try:
            parsed = yaml_config.load(f"{top}: {value}", f"-P {key}")
            value_read = parsed[top] if isinstance(parsed, dict) and top in parsed else value
        except yaml.YAMLError:
            # a list or mapping that does not parse is a typo, not text
            if top not in yaml_config.TEXT_KEYS or value.lstrip()[:1] in ("[", "{"):
                raise InputError(f"-P {pair}: the value is not valid YAML") from None
            value_read = value  # text such as "Scores: 2024" is meant as written
        target = merged
        for part in [top, *inner][:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = target[part] = {}
            target = existing
        target[[top, *inner][-1]] = value_read
    return merged
