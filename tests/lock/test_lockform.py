"""conda-lock.yml's form: bootstrap.sh's awk and envgen's YAML reading refuse the same
files, so no lock can mean one thing to `envgen lock --check` and another to bootstrap.

Each attack below edits conda-lock.yml so that a YAML reader and a line-by-line reader
would see different packages (or so that YAML types could differ from the text), then
re-hashes the explicit file's header as an attacker would: both checks must still
refuse it. A seeded random search over edits of real locks then compares the two
readers directly, under this machine's awk and, when installed, the BSD awk macOS
ships (Debian's original-awk).
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.tools import require_tool

from envgen.cli import run
from envgen.lock.integrity import read_lock
from envgen.lock.lockform import read_form

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist-metal"
EVIL = "https://evil.example/conda-forge/osx-arm64/bzip2-1.0.8-h0.conda"


def _first(text: str, key: str) -> str:
    match = re.search(rf"^  {key}: (.*)$", text, re.M)
    assert match, key
    return match.group(0)


def _attacks() -> dict[str, object]:
    def after_first(key: str, extra: str):
        return lambda t: t.replace(_first(t, key), _first(t, key) + "\n" + extra, 1)

    def first_line(key: str, new: str):
        return lambda t: t.replace(_first(t, key), new, 1)

    return {
        "a quoted duplicate key": after_first("url", f'  "url": {EVIL}'),
        "a second package list": lambda t: (
            t + f"package:\n- name: evil\n  version: '1'\n  url: {EVIL}\n"
        ),
        "a comment inside the package list": after_first("optional", "# note"),
        "a trailing comment": lambda t: t.replace(
            _first(t, "url"), _first(t, "url") + " # mirror", 1
        ),
        "a trailing space": first_line("platform", "  platform: osx-arm64 "),
        "a U+2028 in a value": first_line("version", "  version: 1\u2028x"),
        "a multi-line double-quoted url": first_line(
            "url", f'  url: "https://a.example/x\n  url: {EVIL}"'
        ),
        "a name with a direct URL": lambda t: t.replace(
            "- name: ", "- name: absl-py @ https://evil.example/x.whl ;", 1
        ),
        "a url with an option": first_line(
            "url", "  url: https://x.example/a.whl --index-url https://evil.example"
        ),
        "platforms on one line": lambda t: t.replace(
            "  platforms:\n  - osx-arm64\n", "  platforms: 5\n"
        ),
        "a date as a platform": lambda t: t.replace(
            "  platforms:\n  - osx-arm64\n", "  platforms:\n  - 2024-01-01\n"
        ),
        "custom_metadata as a list": lambda t: re.sub(
            r"  custom_metadata:\n(    .*\n)+", "  custom_metadata: []\n", t
        ),
        "a duplicated custom key": lambda t: t.replace(
            "  custom_metadata:\n",
            "  custom_metadata:\n    envgen_toml_sha256: " + "0" * 64 + "\n",
        ),
        "CRLF line ends": lambda t: t.replace("\n", "\r\n"),
        "an indented sequence (yq's layout)": lambda t: t.replace(
            "\n- name: ", "\n  - name: "
        ),
        "a python tag": first_line("version", "  version: !!python/object x"),
        "an alias": first_line("version", "  version: *anchor"),
        "a complex key": lambda t: t.replace("metadata:\n", "metadata:\n  ? [a, b]\n"),
        "a NUL byte": first_line("category", "  category: ma\0in"),
        "a non-UTF-8 comment": lambda t: "# \udcff\n" + t,
        "a value continued on the next line": lambda t: t.replace(
            "  sources:\n  - environment.yml\n",
            "  sources: environment.yml\n    - evil.yml\n",
        ),
        "keys out of conda-lock's order": lambda t: t.replace(
            "  manager: conda\n  platform: osx-arm64\n",
            "  platform: osx-arm64\n  manager: conda\n",
            1,
        ),
        "a cut-short entry": lambda t: t.rsplit("  category:", 1)[0],
        "a document marker": lambda t: "---\n" + t,
        "a folded digest": lambda t: re.sub(
            r"(?m)^(    envgen_toml_sha256: [0-9a-f]+)$", r"\1\n      extra", t
        ),
    }


ATTACKS = _attacks()


@pytest.fixture
def example(tmp_path) -> Path:
    project = tmp_path / "mnist-metal"
    shutil.copytree(EXAMPLE, project)
    return project


def _tamper(project: Path, edit) -> None:
    """Edit conda-lock.yml and re-hash the explicit file's header, as an attacker
    would."""
    lock = project / "conda-lock.yml"
    text = edit(lock.read_text())
    data = text.encode("utf-8", errors="surrogateescape")
    lock.write_bytes(data)
    explicit = project / "conda-osx-arm64.lock"
    explicit.write_text(
        re.sub(
            r"(?m)^(# envgen-lock-sha256: )[0-9a-f]+$",
            lambda m: m.group(1) + hashlib.sha256(data).hexdigest(),
            explicit.read_text(),
        )
    )


def test_the_example_lock_conda_lock_wrote_is_in_form():
    example = read_form((EXAMPLE / "conda-lock.yml").read_bytes())
    assert example.problem == ""
    assert len(example.entries) > 50 and example.platforms == ["osx-arm64"]
    assert all(e.manager in ("conda", "pip") for e in example.entries)


def _form_harness(project: Path, where: Path, awk: str = "awk") -> Path:
    """A script running bootstrap.sh's own lock_form_problem (under ``awk``) on the
    conda-lock.yml of its working directory: it prints nothing for a lock in form."""
    script = (project / "bootstrap.sh").read_text()
    function = re.search(r"(?ms)^lock_form_problem\(\) \{\n.*?^\}\n", script)
    assert function, "bootstrap.sh defines lock_form_problem"
    harness = where / "form.sh"
    harness.write_text(
        function.group(0) + f'awk() {{ "{awk}" "$@"; }}\nlock_form_problem\n'
    )
    return harness


def test_a_long_value_the_writer_folds_is_accepted_by_both_readers(example, tmp_path):
    """conda-lock's writer breaks a plain value with spaces past 80 columns onto the
    next line: envgen's pins and source-built lists in custom_metadata do that."""
    import yaml

    from envgen.lock.write import lock_bytes, lockfile_model

    document = yaml.safe_load((EXAMPLE / "conda-lock.yml").read_text())
    long = "; ".join(f"package{n} {n}.0.1" for n in range(12))
    document["metadata"]["custom_metadata"]["envgen_pip_from_source"] = long
    document["package"][0]["dependencies"]["long-spec"] = "1.0 " + "x" * 80 + " y"
    data = lock_bytes(lockfile_model(document))
    assert "\n      " in data.decode()  # the writer folded it
    form = read_form(data)
    assert form.problem == ""
    assert form.custom["envgen_pip_from_source"] == long
    assert form.entries[0].dependencies["long-spec"] == "1.0 " + "x" * 80 + " y"
    lock = tmp_path / "conda-lock.yml"
    lock.write_bytes(data)
    assert read_lock(lock).problem == ""
    shell = subprocess.run(
        ["bash", str(_form_harness(example, tmp_path))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert shell.stdout == "", shell.stdout


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_each_attack_is_refused_by_lock_check_and_by_bootstrap(example, attack, capsys):
    _tamper(example, ATTACKS[attack])
    assert run(["lock", "--check", "--dir", str(example)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "conda-lock.yml is not" in err, err
    done = subprocess.run(
        ["bash", str(example / "bootstrap.sh"), "--check"],
        cwd=example,
        capture_output=True,
        text=True,
        errors="replace",
    )
    assert done.returncode == 5, done.stdout + done.stderr
    assert "conda-lock.yml is not in the form envgen lock writes" in done.stderr, (
        done.stderr
    )


# ---- the two readers against each other ---------------------------------------------

TRICKS = [
    "---",
    '  "url": x',
    "package:",
    "# c",
    "  - url: x",
    "    - y",
    "? [a, b]",
    "  foo: >",
    "  foo: |",
    "  foo: &a x",
    "- name: evil",
    "  url: https://evil.example/x.whl",
    "    sha256: " + "e" * 64,
    "  platforms:",
    "  - linux-64",
    "  - no",
    "  custom_metadata:",
    "    envgen_toml_sha256: " + "0" * 64,
    "  dependencies: {}",
    "  hash:",
    "  <<: x",
    "    a: 'b'",
    '    a: "b"',
    "  x: 'a: b'",
    "  x: [a]",
    "  x: ~",
    "",
    "  ",
    "      deeper: x",
    "      x 1",
    "      - y",
    "      # c",
    "      a: b",
]
VALUES = ["12", "no", "~", "1.10", "!x", "&a b", "*a", ">", "|", "[a, b]", "a b", "x:"]


def _mutate(lines: list[str], rng: random.Random) -> list[str]:
    lines = list(lines)
    for _ in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(len(lines))
        line, op = lines[i], rng.randrange(10)
        if op == 0:
            lines[i] = line + rng.choice((" ", " # c"))
        elif op == 1:
            lines.insert(i, rng.choice(TRICKS))
        elif op == 2:
            lines[i] = "  " + line
        elif op == 3:
            lines[i] = line[2:] if line.startswith("  ") else line
        elif op == 4:
            lines.insert(i, line)
        elif op == 5:
            del lines[i]
        elif op == 6 and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == 7 and ": " in line:
            key, value = line.split(": ", 1)
            lines[i] = f"{key}: " + rng.choice((f"'{value}'", f'"{value}"'))
        elif op == 8 and ": " in line:
            lines[i] = f"{line.split(': ', 1)[0]}: {rng.choice(VALUES)}"
        else:
            lines[i] = rng.choice(TRICKS)
    return lines


@pytest.mark.parametrize(
    ("awk", "package"), [("awk", "mawk"), ("original-awk", "original-awk")]
)
def test_the_awk_and_the_yaml_reading_refuse_the_same_edits(
    example, tmp_path, awk, package
):
    harness = _form_harness(example, tmp_path, require_tool(awk, package))
    work = tmp_path / "case"
    work.mkdir()
    lines = (EXAMPLE / "conda-lock.yml").read_text().split("\n")[:-1]
    rng = random.Random(20261207)
    accepted = disagreements = 0
    for number in range(120):
        data = ("\n".join(_mutate(lines, rng)) + "\n").encode()
        (work / "conda-lock.yml").write_bytes(data)
        python = read_lock(work / "conda-lock.yml").problem
        shell = subprocess.run(
            ["bash", str(harness)], cwd=work, capture_output=True, check=True
        ).stdout.decode("latin-1")
        if bool(python) != bool(shell.strip()):
            disagreements += 1
            print(f"edit {number}: python={python!r} awk={shell!r}")
        accepted += not python
    assert disagreements == 0
    assert 0 < accepted < 120  # the search reaches both verdicts
