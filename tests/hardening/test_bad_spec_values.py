"""Bad values in every key of envgen.toml and every option of `envgen new`: exit 2, one
line naming the key, nothing written.

Each case edits a generated project's envgen.toml (or passes `envgen new` an option) and
checks that `envgen generate` refuses it with exactly one line that names the key, shows
no raw control character, and leaves every file of the project byte for byte as it was.
"""

from __future__ import annotations

import pytest
from support.hardening import (
    UNSAFE_CHARACTERS,
    assert_one_error_line,
    cli,
    new_project,
    snapshot,
    toml_string,
)

# key → (a valid value to corrupt, how the error names it)
STRING_KEYS = {
    "project.name": ("demo", "project.name"),
    "tensorflow.version": ("2.6", "tensorflow.version"),
    "tensorflow.metal": ("0.2.0", "tensorflow.metal"),
    "environment.python": ("3.9", "environment.python"),
    "environment.location": ("named", "environment.location"),
    "environment.platforms": ("osx-arm64", "environment.platforms[0]"),
    "environment.channels": ("conda-forge", "environment.channels[0]"),
    "packages.conda": ("pandas", "packages.conda[0]"),
    "packages.pip": ("tqdm", "packages.pip[0]"),
}
LIST_KEYS = {
    "environment.platforms",
    "environment.channels",
    "packages.conda",
    "packages.pip",
}


def spec_text(values: dict[str, object]) -> str:
    """An envgen.toml with the given raw TOML values per key (strings already
    encoded)."""
    tables: dict[str, list[str]] = {}
    for key, value in values.items():
        table, name = key.split(".")
        tables.setdefault(table, []).append(f"{name} = {value}")
    return "".join(
        f"[{table}]\n" + "\n".join(lines) + "\n\n" for table, lines in tables.items()
    )


def good_values() -> dict[str, object]:
    values: dict[str, object] = {}
    for key, (value, _) in STRING_KEYS.items():
        encoded = toml_string(value)
        values[key] = f"[{encoded}]" if key in LIST_KEYS else encoded
    values["environment.jupyter"] = "false"
    return values


@pytest.fixture
def project(tmp_path, capsys):
    return new_project(capsys, tmp_path)


def _refused(capsys, project, text: str, *needles: str) -> str:
    (project / "envgen.toml").write_text(text, encoding="utf-8")
    before = snapshot(project)
    code, out, err = cli(capsys, "generate", "--dir", project)
    assert code == 2, out + err
    line = assert_one_error_line(err, *needles)
    assert snapshot(project) == before
    return line


def test_the_valid_spec_is_accepted(project, capsys):
    (project / "envgen.toml").write_text(spec_text(good_values()), encoding="utf-8")
    code, _out, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err


@pytest.mark.parametrize("char_name", sorted(UNSAFE_CHARACTERS))
@pytest.mark.parametrize("key", sorted(STRING_KEYS))
def test_control_characters_and_line_separators_are_refused_naming_the_key(
    project, capsys, key, char_name
):
    value, label = STRING_KEYS[key]
    hostile = value + UNSAFE_CHARACTERS[char_name] + "x"
    values = good_values()
    values[key] = (
        f"[{toml_string(hostile)}]" if key in LIST_KEYS else toml_string(hostile)
    )
    _refused(capsys, project, spec_text(values), label)


WRONG_TYPES = {
    "project.name": "3",
    "tensorflow.version": "2.6",
    "tensorflow.metal": "[true]",
    "environment.python": "3.9",
    "environment.platforms": '"osx-arm64"',
    "environment.channels": "{a = 1}",
    "environment.jupyter": '"yes"',
    "environment.location": "false",
    "packages.conda": "[1, 2]",
    "packages.pip": '[["tqdm"]]',
}


@pytest.mark.parametrize("key", sorted(WRONG_TYPES))
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(project, capsys, key):
    values = good_values()
    values[key] = WRONG_TYPES[key]
    _refused(capsys, project, spec_text(values), key)


MALFORMED = {
    # key, value, why it is refused
    "conda-colon-space": ("packages.conda", "pandas: 2", "packages.conda"),
    "conda-comment": ("packages.conda", "pandas #x", "packages.conda"),
    "conda-brace": ("packages.conda", "{pandas}", "packages.conda"),
    "conda-bracket": ("packages.conda", "pandas[version='>=2']", "packages.conda"),
    "conda-quote": ("packages.conda", 'pandas"', "packages.conda"),
    "conda-dollar": ("packages.conda", "$(reboot)", "packages.conda"),
    "conda-backtick": ("packages.conda", "`reboot`", "packages.conda"),
    "conda-leading-space": ("packages.conda", " pandas", "packages.conda"),
    "conda-trailing-space": ("packages.conda", "pandas ", "packages.conda"),
    "conda-channel": ("packages.conda", "defaults::pandas", "packages.conda"),
    "conda-managed": ("packages.conda", "python 3.11", "packages.conda"),
    "pip-url": ("packages.pip", "evil @ https://example.com/evil.whl", "packages.pip"),
    "pip-garbage": ("packages.pip", "tqdm>=>4", "packages.pip"),
    "pip-leading-space": ("packages.pip", " tqdm", "packages.pip"),
    "pip-managed": ("packages.pip", "tensorflow-metal==1.0", "packages.pip"),
    "pip-compiled": ("packages.pip", "numpy", "packages.pip"),
    "name-leading-digit": ("project.name", "1demo", "project.name"),
    "name-space": ("project.name", "my demo", "project.name"),
    "name-quote": ("project.name", "demo'", "project.name"),
    "name-too-long": ("project.name", "a" * 64, "project.name"),
    "name-non-ascii": ("project.name", "démo", "project.name"),
    "name-trailing-space": ("project.name", "demo ", "project.name"),
    "tf-trailing-space": ("tensorflow.version", "2.6 ", "tensorflow.version"),
    "tf-word": ("tensorflow.version", "latest", "tensorflow.version"),
    "metal-trailing-space": ("tensorflow.metal", "0.2.0 ", "tensorflow.metal"),
    "metal-local-version": ("tensorflow.metal", "0.2.0+evil", "tensorflow.metal"),
    "python-patch": ("environment.python", "3.9.1", "environment.python"),
    "python-two": ("environment.python", "2.7", "environment.python"),
    "platform-unknown": ("environment.platforms", "win-64", "environment.platforms"),
    "channel-other": ("environment.channels", "defaults", "environment.channels"),
    "location-other": ("environment.location", "/tmp", "environment.location"),
    # what the lock's requirements file would read as a comment, an option, a line
    # continuation or a variable, even inside a marker's quotes
    "pip-hash-in-marker": ("packages.pip", "tqdm; python_version == 'a #b'", "'#'"),
    "pip-option-in-marker": (
        "packages.pip",
        "tqdm; python_version == 'a --index-url http://x'",
        "option",
    ),
    "pip-variable-in-marker": (
        "packages.pip",
        "tqdm; python_version == '${HOME}'",
        "environment variable",
    ),
    "pip-backslash-in-marker": (
        "packages.pip",
        "tqdm; python_version == 'a\\b'",
        "backslash",
    ),
    "conda-hash": ("packages.conda", "pandas >=2 #x", "packages.conda"),
    "conda-option": ("packages.conda", "pandas >=2 --channel x", "packages.conda"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_values_are_refused_naming_the_key(project, capsys, case):
    key, value, label = MALFORMED[case]
    values = good_values()
    values[key] = f"[{toml_string(value)}]" if key in LIST_KEYS else toml_string(value)
    _refused(capsys, project, spec_text(values), label)


def test_a_utf8_byte_order_mark_is_accepted(project, capsys):
    text = (project / "envgen.toml").read_text(encoding="utf-8")
    (project / "envgen.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, _out, err = cli(capsys, "generate", "--dir", project)
    assert code == 0, err


def test_a_key_above_the_first_table_is_named_as_such(project, capsys):
    text = 'name = "demo"\n' + spec_text(good_values())
    line = _refused(capsys, project, text, "'name'", "outside any table")
    assert "[project]" in line and "unknown section" not in line


def test_an_unknown_table_is_named(project, capsys):
    _refused(capsys, project, spec_text(good_values()) + "[tools]\nx = 1\n", "[tools]")


def test_an_unknown_key_is_named(project, capsys):
    values = good_values()
    values["project.nmae"] = '"x"'
    _refused(capsys, project, spec_text(values), "project.nmae")


def test_a_key_name_with_a_line_break_is_refused(project, capsys):
    _refused(
        capsys,
        project,
        spec_text(good_values()) + '[packages.extra]\n"a\\nb" = 1\n',
        "key name",
    )


def test_invalid_toml_names_line_and_column(project, capsys):
    _refused(capsys, project, "[project\nname = 1\n", "not valid TOML", "line 1")


def test_an_empty_spec_names_the_missing_key(project, capsys):
    _refused(capsys, project, "", "project.name")


def test_a_spec_that_is_not_utf8_is_named(project, capsys):
    (project / "envgen.toml").write_bytes(b'[project]\nname = "d\xe9mo"\n')
    before = snapshot(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 2
    assert_one_error_line(err, "envgen.toml", "UTF-8")
    assert snapshot(project) == before


def test_a_spec_that_is_a_directory_is_named(project, capsys):
    (project / "envgen.toml").unlink()
    (project / "envgen.toml").mkdir()
    before = snapshot(project)
    code, _, err = cli(capsys, "generate", "--dir", project)
    assert code == 2
    assert_one_error_line(err, "envgen.toml", "directory")
    assert snapshot(project) == before


NEW_OPTIONS = {
    "name-newline": ("demo\n", []),
    "name-u2028": ("demo\u2028x", []),
    "name-dotdot": ("..", []),
    "name-slash": ("a/b", []),
    "tf-newline": ("demo", ["--tf", "2.6\n"]),
    "python-newline": ("demo", ["--python", "3.9\n"]),
    "python-nel": ("demo", ["--python", "3.9\x85"]),
    "platform-newline": ("demo", ["--platform", "osx-arm64\n"]),
    "platform-unknown": ("demo", ["--platform", "osx-arm64; rm -rf /"]),
}


@pytest.mark.parametrize("case", sorted(NEW_OPTIONS))
def test_envgen_new_refuses_hostile_options_and_creates_nothing(tmp_path, capsys, case):
    name, extra = NEW_OPTIONS[case]
    args = ["new", name, "--no-lock", "--dir", tmp_path / "made"]
    if "--tf" not in extra:
        args += ["--tf", "2.6"]
    code, out, err = cli(capsys, *args, *extra)
    assert code == 2, out + err
    assert_one_error_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [["add", "pandas"], ["remove", "pandas"], ["generate"], ["lock", "--check"]],
)
def test_every_command_reading_envgen_toml_accepts_a_byte_order_mark(
    project, capsys, command
):
    if command[0] == "remove":
        assert cli(capsys, "add", "pandas", "--dir", project)[0] == 0
    text = (project / "envgen.toml").read_text(encoding="utf-8")
    (project / "envgen.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, _, err = cli(capsys, *command, "--dir", project)
    assert code == (1 if command[0] == "lock" else 0), (
        err
    )  # lock --check: 1, never locked
    assert "TOML" not in err and "Traceback" not in err


LOCK_OPTIONS = {
    "platform-bogus": (["--platform", "bogus"], "--platform bogus"),
    "solver-bogus": (["--solver", "bogus"], "--solver bogus"),
    "channel-not-a-url": (["--channel", "not a url"], "--channel not a url"),
    "channel-bare-word": (["--channel", "mirror"], "--channel mirror"),
    "channel-relative-file": (["--channel", "file://rel/x"], "--channel file://"),
    "index-ftp": (["--pypi-index", "ftp://x"], "--pypi-index ftp://x"),
    "index-no-host": (["--pypi-index", "https:///simple"], "--pypi-index"),
}


@pytest.mark.parametrize("check", [True, False], ids=["check", "lock"])
@pytest.mark.parametrize("case", sorted(LOCK_OPTIONS))
def test_lock_refuses_an_option_that_names_nothing_before_anything_else(
    tmp_path, capsys, case, check
):
    from support.hardening import fabricate_lock

    project = new_project(capsys, tmp_path)
    fabricate_lock(project)  # --check would say "up to date"
    extra, needle = LOCK_OPTIONS[case]
    before = snapshot(project)
    args = ["lock", *(["--check"] if check else []), "--dir", project, *extra]
    code, out, err = cli(capsys, *args)
    assert code == 2, out + err
    assert_one_error_line(err, needle)
    assert snapshot(project) == before


def test_envgen_new_refuses_a_channel_that_is_no_url_and_creates_nothing(
    tmp_path, capsys
):
    code, out, err = cli(
        capsys,
        *["new", "demo", "--tf", "2.6", "--dir", tmp_path / "made"],
        *["--channel", "not a url"],
    )
    assert code == 2, out + err
    assert_one_error_line(err, "--channel")
    assert list(tmp_path.iterdir()) == []


DEEP = {
    "arrays": lambda text: text.replace(
        "conda = []", "conda = " + "[" * 1000 + "]" * 1000
    ),
    "inline-tables": lambda text: (
        text + "[extra]\nx = " + "{a = " * 1000 + "1" + "}" * 1000
    ),
    "dotted-table": lambda text: text + "[x" + ".a" * 5000 + "]\n",
}


@pytest.mark.parametrize("command", ["generate", "add pandas", "lock --check"])
@pytest.mark.parametrize("case", sorted(DEEP))
def test_a_deeply_nested_spec_is_bad_input_not_a_crash(project, capsys, case, command):
    spec = project / "envgen.toml"
    spec.write_text(DEEP[case](spec.read_text()))
    before = snapshot(project)
    code, out, err = cli(capsys, *command.split(), "--dir", project)
    assert code == 2, out + err
    assert_one_error_line(err, "envgen.toml is nested too deeply")
    assert snapshot(project) == before
