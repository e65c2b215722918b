"""Escapers for generated files, one per language: each turns a value into a literal of
that language.

Templates never paste a value into a file: every interpolation goes through one of these
filters (``yaml``, ``sh``, ``py``, ``toml``, ``md``), and the environment's finalizer
refuses any interpolated text that still holds a line break or a control character, so a
value can never start a new line of a generated file.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata

import yaml

# Unicode categories no value of a generated file may hold: controls (C0, C1, DEL),
# format characters (bidi overrides, zero-width), line and paragraph separators,
# surrogates, private use, and unassigned code points with the noncharacters (U+FFFE,
# U+FFFF, U+FDD0..: a YAML reader refuses a file holding one).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_YAML_PLAIN = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_.*,<>=!~|+/@()\[\]-]*(?:"
    r" [A-Za-z0-9_.*,<>=!~|+/@()\[\]-]+)*"
)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!<>|~])")


class UnsafeValue(ValueError):
    """A value that no escaper may write: it holds a control character or a line
    separator."""


def unsafe_character(text: str) -> str | None:
    """The first character of text that may not appear in a generated file, or None."""
    for char in text:
        if unicodedata.category(char) in UNSAFE_CATEGORIES:
            return char
    return None


def _require_safe(value: object) -> str:
    text = str(value)
    bad = unsafe_character(text)
    if bad is not None:
        raise UnsafeValue(
            f"refusing to render {text!r}: it holds U+{ord(bad):04X}"
            f" ({unicodedata.name(bad, 'a control character')})"
        )
    return text


def yaml_scalar(value: object) -> str:
    """A YAML flow scalar that loads back as exactly str(value): plain when that is
    safe, else double-quoted."""
    text = _require_safe(value)
    if _YAML_PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(
        text, ensure_ascii=True
    )  # a JSON string is a YAML double-quoted scalar


def sh_word(value: object) -> str:
    """One shell word that expands to exactly str(value) (single-quoted when it needs
    quoting)."""
    return shlex.quote(_require_safe(value))


def py_literal(value: object) -> str:
    """A Python literal (repr) that evaluates back to value."""
    if isinstance(value, str):
        _require_safe(value)
    return repr(value)


def toml_value(value: object) -> str:
    """A TOML literal for a string, bool or list of strings (basic strings, everything
    escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    text = _require_safe(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped + '"'


def md_text(value: object) -> str:
    """Markdown prose showing str(value) literally (every markup character
    backslash-escaped)."""
    return _MD_SPECIAL.sub(r"\\\1", _require_safe(value))


def finalize(value: object) -> object:
    """Jinja finalizer: no interpolation may carry a line break or control character
    into a file."""
    if isinstance(value, str):
        _require_safe(value)
    return value


FILTERS = {
    "yaml": yaml_scalar,
    "sh": sh_word,
    "py": py_literal,
    "toml": toml_value,
    "md": md_text,
}
