"""The form of conda-lock.yml that envgen accepts: the lines conda-lock's writer makes.

bootstrap.sh reads conda-lock.yml with awk, line by line, before anything is installed;
``envgen lock --check`` reads it as YAML. The two readings agree only on a file whose
every line means one thing to both, so both first hold the file to this line grammar
(bootstrap.sh's ``lock_form_problem`` is the same grammar in awk, and the tests run
both on the same files):

- printable ASCII and newlines only (no tab, CR, NUL or other byte: U+2028 and NEL
  are line breaks to a YAML reader and not to awk), ending in a newline;
- ``#`` comment lines only before ``version: 1``; then ``metadata:``, its lines, and
  ``package:`` with its entries, each top-level key once and nothing after;
- metadata lines are ``KEY: VALUE``, ``KEY:``, ``- VALUE`` or ``- KEY: VALUE`` at an
  even indent, every value one scalar on its line (quoted or plain, no comment, no
  flow collection but ``[]``/``{}``); ``metadata`` and ``custom_metadata`` name each
  key once;
- each package entry is ``- name: NAME`` then, in conda-lock's order and once each,
  version, manager (conda or pip), platform, dependencies (``{}`` or ``NAME: VALUE``
  lines), url (no space, quote or ``#``), hash (md5 and sha256 as lowercase hex),
  category and optional.

A line deeper than the one before it must be that line's block (after ``KEY:``, or
the keys of a ``- KEY: VALUE`` item), or the rest of a plain value the writer folded
past 80 columns, two spaces deeper (never a digest): nothing else continues a value.

A file outside it is "not in the form envgen lock writes": edited by hand, reformatted
or tampered with; ``envgen lock --force`` writes it again. Inside it, the package
entries are read as text (:func:`read_form`), exactly as bootstrap.sh reads them, so a
YAML type (``name: 12``, ``version: 1.10``) cannot make the two readings differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEY = re.compile(r"[A-Za-z0-9_.-]+")
# One YAML scalar on one line: single-quoted, double-quoted (metadata only), or plain
# (no indicator first; no ": " or " #" inside; no space or ':' last).
_SINGLE = re.compile(r"'([^']|'')*'")
_DOUBLE = re.compile(r'"([^"\\]|\\[ -~])*"')
_PLAIN = re.compile(r"[A-Za-z0-9_./(=<~^$+]([ -~]*[^ :])?")
# A plain value the writer folds onto the next line (it breaks a value with spaces past
# 80 columns), two spaces deeper: the rest of the value, one space for the break.
_FOLD = re.compile(r"[A-Za-z0-9_./(=<>~^$+*!]([ -~]*[^ :])?")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9._~%+/:@=!$&()*,;-]+")
_HEX = re.compile(r"[0-9a-f]+")
_PLATFORM = re.compile(r"[a-z][a-z0-9_-]*")
_WORD = re.compile(r"[a-z]+")
# A package entry's keys after ``name``, in the order conda-lock's writer puts them.
_ORDER = (
    "version",
    "manager",
    "platform",
    "dependencies",
    "url",
    "hash",
    "category",
    "optional",
)
_HASH_LENGTH = {"md5": 32, "sha256": 64}


def _plain(text: str) -> bool:
    return bool(_PLAIN.fullmatch(text)) and ": " not in text and " #" not in text


def _scalar(text: str, *, double: bool = False) -> bool:
    """One scalar on its line, as the writer puts it after ``KEY: ``."""
    return (
        _plain(text)
        or bool(_SINGLE.fullmatch(text))
        or (double and bool(_DOUBLE.fullmatch(text)))
    )


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


@dataclass
class Entry:
    """One package entry as text: what bootstrap.sh's awk reads of it."""

    name: str
    version: str = ""
    manager: str = ""
    platform: str = ""
    url: str = ""
    dependencies: dict[str, str] = field(default_factory=dict)
    hash: dict[str, str] = field(default_factory=dict)
    category: str = ""
    optional: str = ""
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "manager": self.manager,
            "platform": self.platform,
            "dependencies": dict(self.dependencies),
            "url": self.url,
            "hash": dict(self.hash),
            "category": self.category,
            "optional": self.optional == "true",
        }


@dataclass
class Form:
    """conda-lock.yml read by the line grammar: ``problem`` ("" when in form) and the
    package entries as text."""

    problem: str
    entries: list[Entry]
    platforms: list[str] = field(default_factory=list)
    custom: dict[str, str] = field(default_factory=dict)


def _where(number: int, line: str) -> str:
    shown = line if len(line) <= 60 else line[:57] + "..."
    return f"line {number} ({shown!r})"


class _Reader:
    def __init__(self) -> None:
        self.state = "preamble"
        self.meta_keys: set[str] = set()
        self.block = ""  # the metadata key whose lines follow: "platforms", ...
        self.platforms: list[str] = []
        self.custom: dict[str, str] = {}
        # metadata: the deepest indent the next line may have
        self.deepest = 2
        self.entries: list[Entry] = []
        self.section = ""
        # the indent a folded continuation of the last plain value would have, and
        # where its text goes (None: a value neither reader uses)
        self.fold_indent = -1
        self.fold_into: tuple[dict[str, str], str] | None = None

    def _folded(self, line: str) -> bool:
        """A continuation of the plain value on the line before (joined to it)."""
        body = line.lstrip(" ")
        if (
            self.fold_indent < 0
            or len(line) - len(body) != self.fold_indent
            or not _FOLD.fullmatch(body)
            or ": " in body
            or " #" in body
        ):
            self.fold_indent, self.fold_into = -1, None
            return False
        if self.fold_into is not None:
            values, key = self.fold_into
            values[key] += " " + body
        return True

    def _folds(self, indent: int, value: str, into=None) -> None:
        """The value just read may continue on lines ``indent`` deep, if it is plain."""
        plain = _plain(value)
        self.fold_indent = indent if plain else -1
        self.fold_into = into if plain else None

    def line(self, line: str) -> str:
        if self.state == "preamble":
            if line == "#" or line.startswith("# "):
                return ""
            if line != "version: 1":
                return "expected '# ...' comments, then 'version: 1'"
            self.state = "version"
        elif self.state == "version":
            if line != "metadata:":
                return "expected 'metadata:'"
            self.state = "metadata"
        elif self._folded(line):
            return ""
        elif self.state == "metadata":
            if line == "package:":
                self.state = "packages"
                return ""
            return self.metadata(line)
        else:
            return self.package(line)
        return ""

    def metadata(self, line: str) -> str:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if indent < 2 or indent % 2 or indent > self.deepest:
            return "is not indented as a line of metadata's blocks"
        dash = body.startswith("- ")
        if dash:
            body = body[2:]
        key, colon, value = body.partition(":")
        top = indent == 2 and not dash
        if top:
            if colon and key in self.meta_keys:
                return f"names the metadata key {key!r} twice"
            self.meta_keys.add(key)
            self.block = key
        # the two keys both readers use: platforms (a list of names) and
        # custom_metadata (KEY: VALUE lines), each in one form only
        if self.block == "platforms" and not top:
            if indent != 2 or not dash or not _PLATFORM.fullmatch(body):
                return "is not one '  - PLATFORM' line of metadata.platforms"
            self.platforms.append(body)
            return ""
        if self.block == "custom_metadata" and not top:
            if indent != 4 or dash or not colon or not _KEY.fullmatch(key):
                return "is not one '    KEY: VALUE' line of metadata.custom_metadata"
            if value[:1] != " " or not _scalar(value[1:]):
                return "is not one '    KEY: VALUE' line of metadata.custom_metadata"
            if key in self.custom:
                return f"names the custom_metadata key {key!r} twice"
            self.custom[key] = _unquote(value[1:])
            if not key.endswith("_sha256"):  # a digest is one word: never folded
                self._folds(6, value[1:], (self.custom, key))
            return ""
        if top and key in ("platforms", "custom_metadata") and value != "":
            return f"writes metadata.{key} on one line"
        if colon and _KEY.fullmatch(key) and value == "":
            opens = True
        elif colon and _KEY.fullmatch(key) and value[:1] == " ":
            if not _scalar(value[1:], double=True) and value[1:] not in ("[]", "{}"):
                return "is not one 'KEY: VALUE' line (one scalar, no comment)"
            opens = False
            self._folds((indent + 2 if dash else indent) + 2, value[1:])
        elif dash and _scalar(body, double=True):
            self.deepest = indent
            return ""
        else:
            return "is not one 'KEY: VALUE', 'KEY:' or '- VALUE' line of metadata"
        content = indent + 2 if dash else indent
        self.deepest = content + 2 if opens else content
        return ""

    def package(self, line: str) -> str:
        entry = self.entries[-1] if self.entries else None
        if line.startswith("- "):
            if entry is not None and entry.keys[-1:] != ["optional"]:
                return "starts an entry while the one before it is cut short"
            name = line[8:]
            if not line.startswith("- name: ") or not _NAME.fullmatch(name):
                return "does not start an entry with '- name: NAME'"
            self.entries.append(Entry(name=name, keys=["name"]))
            self.section = ""
            return ""
        if entry is None:
            return "expected '- name: NAME'"
        if line.startswith("    "):
            key, colon, value = line[4:].partition(": ")
            if self.section == "dependencies":
                if not colon or not _KEY.fullmatch(key) or not _scalar(value):
                    return "is not one 'NAME: VERSION' dependency"
                if key in entry.dependencies:
                    return f"names the dependency {key!r} twice"
                entry.dependencies[key] = _unquote(value)
                self._folds(6, value, (entry.dependencies, key))
                return ""
            if self.section == "hash":
                length = _HASH_LENGTH.get(key)
                if not length or len(value) != length or not _HEX.fullmatch(value):
                    return "is not an md5 or a sha256 in lowercase hex"
                if key in entry.hash:
                    return f"names the {key} twice"
                entry.hash[key] = value
                return ""
            return "is indented, but only dependencies and hash hold indented lines"
        if not line.startswith("  ") or line.startswith("   "):
            return "is not a two-space indented 'KEY: VALUE' of a package entry"
        key, _, value = line[2:].partition(":")
        done = len(entry.keys) - 1
        expected = _ORDER[done] if done < len(_ORDER) else "a new '- name:' entry"
        if key != expected:
            return f"expected {expected!r} here (conda-lock's order, each key once)"
        entry.keys.append(key)
        self.section = ""
        if key in ("dependencies", "hash"):
            if value == "":
                self.section = key
                return ""
            if key == "dependencies" and value == " {}":
                return ""
            return f"is not a valid {key} line"
        if value[:1] != " ":
            return f"is not a valid {key} line"
        value = value[1:]
        valid = {
            "version": _scalar(value),
            "manager": value in ("conda", "pip"),
            "platform": bool(_PLATFORM.fullmatch(value)),
            "url": bool(_URL.fullmatch(value)),
            "category": bool(_WORD.fullmatch(value)),
            "optional": value in ("true", "false"),
        }[key]
        if not valid:
            return f"is not a valid {key} line"
        setattr(entry, key, _unquote(value))
        return ""

    def end(self) -> str:
        if self.state != "packages":
            return "it ends before its 'package:' list"
        if self.entries and self.entries[-1].keys[-1:] != ["optional"]:
            return "its last package entry is cut short"
        return ""


def read_form(raw: bytes) -> Form:
    """conda-lock.yml held to the form envgen lock writes, and its entries as text."""
    if not raw.endswith(b"\n"):
        return Form("it does not end with a line break (cut short?)", [])
    lines = raw.split(b"\n")[:-1]
    for number, data in enumerate(lines, start=1):
        bad = next((b for b in data if not 0x20 <= b <= 0x7E), None)
        if bad is not None:
            return Form(
                f"line {number} holds the byte 0x{bad:02x}, not printable ASCII", []
            )
    reader = _Reader()
    for number, data in enumerate(lines, start=1):
        text = data.decode("ascii")
        problem = reader.line(text)
        if problem:
            joint = ": " if problem.startswith("expected") else " "
            return Form(f"{_where(number, text)}{joint}{problem}", [])
    problem = reader.end()
    if problem:
        return Form(problem, [])
    return Form("", reader.entries, reader.platforms, reader.custom)


def form_problem(raw: bytes) -> str:
    """Why ``raw`` is not in the form envgen lock writes ("" when it is)."""
    return read_form(raw).problem
