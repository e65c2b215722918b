"""Corrupt and tampered locks, torn caches.

A tampered explicit file (conda-<platform>.lock) is refused by `envgen lock --check`
(exit 1) and by bootstrap.sh on a stubbed Mac (exit 5), each naming the file and the
package; a conda-lock.yml that is not a lock (not UTF-8, not YAML, not a mapping…) is
one line, never a traceback, and `envgen lock --force` replaces it; a torn PyPI cache
entry is a cache miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from support.fakemac import FakeMac
from support.hardening import (
    assert_one_error_line,
    cli,
    fabricate_lock,
    new_project,
    snapshot,
)
from support.lock_fixtures import CHANNEL_URL, PipIndex, write_index

from envgen.lock.integrity import check_explicit, header_lines, render_explicit
from envgen.pypi.cache import HttpCache

EXPLICIT = "conda-osx-arm64.lock"


@pytest.fixture
def project(tmp_path, capsys):
    project = new_project(capsys, tmp_path)
    fabricate_lock(project)
    return project


def _lines(project: Path) -> list[str]:
    return (project / EXPLICIT).read_text().split("\n")


def _index(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


def _conda(lines):
    return _index(lines, "https://conda.anaconda.org/conda-forge/osx-arm64/python-3")


def _pip(lines):
    return _index(lines, "# pip wrapt")


def _flip_last_hex(line: str) -> str:
    return line[:-1] + ("0" if line[-1] != "0" else "1")


# name → (how to tamper with the explicit file's lines, the package the refusal must
# name or None)
TAMPERINGS = {
    "conda-url-host": (
        lambda ls: ls.__setitem__(
            _conda(ls), ls[_conda(ls)].replace("conda.anaconda.org", "evil.example.com")
        ),
        "python",
    ),
    "conda-sha256": (
        lambda ls: ls.__setitem__(_conda(ls), _flip_last_hex(ls[_conda(ls)])),
        "python",
    ),
    "conda-md5-instead": (
        lambda ls: ls.__setitem__(
            _conda(ls), ls[_conda(ls)].split("#")[0] + "#" + "a" * 32
        ),
        "python",
    ),
    "conda-build-swapped": (
        lambda ls: ls.__setitem__(
            _conda(ls), ls[_conda(ls)].replace("hfa1ae8a_0", "hfa1ae8a_1")
        ),
        "python",
    ),
    "pip-url": (
        lambda ls: ls.__setitem__(
            _pip(ls), ls[_pip(ls)].replace("files.pythonhosted.org", "evil.example.com")
        ),
        "wrapt",
    ),
    "pip-sha256": (
        lambda ls: ls.__setitem__(_pip(ls), _flip_last_hex(ls[_pip(ls)])),
        "wrapt",
    ),
    "pip-name": (
        lambda ls: ls.__setitem__(
            _pip(ls), ls[_pip(ls)].replace("# pip wrapt", "# pip wrapt-evil")
        ),
        "wrapt",
    ),
    "conda-line-added": (
        lambda ls: ls.insert(
            -1, "https://evil.example.com/osx-arm64/backdoor-1.0-0.conda#" + "e" * 64
        ),
        "backdoor",
    ),
    "pip-line-added": (
        lambda ls: ls.insert(
            -1,
            "# pip backdoor @"
            " https://evil.example.com/backdoor-1.0-py3-none-any.whl#sha256="
            + "e"
            * 64,
        ),
        "backdoor",
    ),
    "conda-line-removed": (lambda ls: ls.pop(_conda(ls)), "python"),
    "pip-line-removed": (lambda ls: ls.pop(_pip(ls)), "wrapt"),
    "line-duplicated": (lambda ls: ls.insert(-1, ls[_conda(ls)]), None),
    "lines-reordered": (lambda ls: ls.insert(_conda(ls) - 1, ls.pop(_conda(ls))), None),
    "trailing-space": (
        lambda ls: ls.__setitem__(_conda(ls), ls[_conda(ls)] + " "),
        "python",
    ),
    "carriage-returns": (
        lambda ls: ls.__setitem__(
            slice(None), [line + "\r" for line in ls[:-1]] + [""]
        ),
        None,
    ),
    "indented-url": (
        lambda ls: ls.__setitem__(_conda(ls), "  " + ls[_conda(ls)]),
        None,
    ),
    "url-above-explicit": (
        lambda ls: ls.insert(
            1, "https://evil.example.com/osx-arm64/early-1.0-0.conda#" + "e" * 64
        ),
        None,
    ),
    "explicit-marker-removed": (lambda ls: ls.remove("@EXPLICIT"), None),
    "header-lock-sha-changed": (
        lambda ls: ls.__setitem__(1, _flip_last_hex(ls[1])),
        None,
    ),
    "no-final-newline": (lambda ls: ls.pop(), None),
    "byte-order-mark": (lambda ls: ls.__setitem__(0, "\ufeff" + ls[0]), None),
    "emptied": (lambda ls: ls.__setitem__(slice(None), [""]), None),
}


def _tamper(project: Path, case: str) -> str | None:
    mutate, package = TAMPERINGS[case]
    lines = _lines(project)
    mutate(lines)
    (project / EXPLICIT).write_bytes("\n".join(lines).encode("utf-8"))
    return package


def test_an_untouched_lock_passes_both_checks(project, capsys, tmp_path):
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 0, err
    done = FakeMac(tmp_path).run(project, "--no-verify")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_lock_check_refuses_a_tampered_explicit_file_naming_it_and_the_package(
    project, capsys, case
):
    package = _tamper(project, case)
    before = snapshot(project)
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1, err
    line = assert_one_error_line(err, EXPLICIT)
    if package is not None:
        assert re.search(rf"\b{re.escape(package)}\b", line), line
    assert snapshot(project) == before


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_bootstrap_refuses_a_tampered_explicit_file_naming_the_package(
    project, case, tmp_path
):
    package = _tamper(project, case)
    mac = FakeMac(tmp_path)
    done = mac.run(project, "--no-verify")
    assert done.returncode == 5, done.stdout + done.stderr
    assert EXPLICIT in done.stderr
    if package is not None:
        assert re.search(rf"\b{re.escape(package)}\b", done.stderr), done.stderr
    assert not any(
        call.startswith("conda: create") for call in mac.calls()
    )  # nothing was installed


def test_a_consistent_edit_of_both_files_is_still_caught_by_the_header(
    project, capsys, tmp_path
):
    """Changing a package in conda-lock.yml and re-rendering the body, without envgen
    lock: the header's conda-lock.yml hash no longer matches, and the stale input hashes
    do not hide it."""
    text = (project / "conda-lock.yml").read_text()
    (project / "conda-lock.yml").write_text(
        text.replace("wrapt-1.12.1", "wrapt-1.12.2")
    )
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1
    assert_one_error_line(err, EXPLICIT)
    assert FakeMac(tmp_path).run(project, "--no-verify").returncode == 5


def test_the_python_and_bash_renderings_agree_on_dependency_order(project, tmp_path):
    """bootstrap.sh's awk puts each conda package after its dependencies exactly as
    integrity.py does."""
    document = yaml.safe_load((project / "conda-lock.yml").read_text())
    document["package"].reverse()  # dependents before dependencies in the file
    (project / "conda-lock.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    inputs = [
        (n, hashlib.sha256((project / n).read_bytes()).hexdigest())
        for n in ("envgen.toml", "environment.yml")
    ]
    header = header_lines(
        hashlib.sha256((project / "conda-lock.yml").read_bytes()).hexdigest(), inputs
    )
    text = render_explicit(document, "osx-arm64", header)
    body = [line for line in text.splitlines() if line.startswith("https://")]
    assert [line.rsplit("/", 1)[1].split("-")[0] for line in body] == [
        "ca",
        "python",
        "python_abi",
    ]
    (project / EXPLICIT).write_text(text)
    done = FakeMac(tmp_path).run(project, "--no-verify")
    assert done.returncode == 0, done.stderr


# ---- a real lock, written by envgen lock against the fixture channel and index -------


@pytest.fixture(scope="module")
def real_lock(tmp_path_factory):
    served = PipIndex(write_index(tmp_path_factory.mktemp("pypi")))
    try:
        project = tmp_path_factory.mktemp("real") / "demo"
        from envgen.cli import run

        args = ["new", "demo", "--tf", "2.6", "--python", "3.9", "--dir", str(project)]
        code = run(
            [
                *args,
                "--channel",
                CHANNEL_URL,
                "--pypi-index",
                served.url,
                "--keep-mirror-urls",
            ]
        )
        assert code == 0
        yield project, served
    finally:
        served.close()


def test_a_real_lock_passes_check_and_bootstrap(real_lock, tmp_path, capsys):
    project, _ = real_lock
    copy = tmp_path / "demo"
    shutil.copytree(project, copy)
    code, _, err = cli(capsys, "lock", "--check", "--dir", copy)
    assert code == 0, err
    done = FakeMac(tmp_path).run(copy, "--no-verify")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("what", ["conda-sha256", "pip-sha256", "conda-url", "pip-url"])
def test_a_real_lock_tampered_is_refused_by_both(real_lock, tmp_path, capsys, what):
    project, _ = real_lock
    copy = tmp_path / "demo"
    shutil.copytree(project, copy)
    lines = (copy / EXPLICIT).read_text().split("\n")
    manager, field = what.split("-")
    index = next(
        i
        for i, line in enumerate(lines)
        if (line.startswith("# pip ") if manager == "pip" else line.startswith("file:"))
    )
    line = lines[index]
    lines[index] = (
        _flip_last_hex(line) if field == "sha256" else line.replace("/", "//", 3)
    )
    (copy / EXPLICIT).write_text("\n".join(lines))
    name = (
        line.split()[2]
        if manager == "pip"
        else line.rsplit("/", 1)[1].rsplit("-", 2)[0]
    )
    code, _, err = cli(capsys, "lock", "--check", "--dir", copy)
    assert code == 1
    assert_one_error_line(err, EXPLICIT, name)
    done = FakeMac(tmp_path).run(copy, "--no-verify")
    assert done.returncode == 5 and name in done.stderr, done.stderr


CORRUPT_LOCKS = {
    "empty": b"",
    "a-list": b"- a\n- b\n",
    "a-scalar": b"just words\n",
    "not-yaml": b"metadata: {platforms: [osx-arm64\npackage: [\n",
    "not-utf8": (
        b"version: 1\nmetadata:\n  platforms: [osx-arm64]\npackage: []\n# \xff\xfe\n"
    ),
    "binary": bytes(range(256)),
    "metadata-not-mapping": b"version: 1\nmetadata: 3\npackage: []\n",
    "package-not-list": (
        b"version: 1\nmetadata: {platforms: [osx-arm64]}\npackage: {}\n"
    ),
    "no-platforms": b"version: 1\nmetadata: {}\npackage: []\n",
    "custom-metadata-list": (
        b"version: 1\nmetadata: {platforms: [osx-arm64], custom_metadata:"
        b" [1]}\npackage: []\n"
    ),
    "entry-a-string": (
        b"version: 1\nmetadata: {platforms: [osx-arm64]}\npackage: [nonsense]\n"
    ),
    "entry-without-sha256": (
        b"version: 1\nmetadata: {platforms: [osx-arm64]}\npackage:\n- name: python\n "
        b" manager: conda\n  platform: osx-arm64\n  url:"
        b" https://conda.anaconda.org/conda-forge/osx-arm64/python-3.9-0.conda\n  hash:"
        b" {md5: 0123456789abcdef0123456789abcdef}\n"
    ),
    "yaml-bomb-alias": b"a: &a [x, x]\nb: &b [*a, *a]\nmetadata: *b\npackage: *b\n",
}


@pytest.mark.parametrize("case", sorted(CORRUPT_LOCKS))
def test_lock_check_on_a_corrupt_conda_lock_yml_is_one_line(project, capsys, case):
    (project / "conda-lock.yml").write_bytes(CORRUPT_LOCKS[case])
    before = snapshot(project)
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1, err
    assert_one_error_line(err, "conda-lock.yml")
    assert snapshot(project) == before


@pytest.mark.parametrize("case", sorted(CORRUPT_LOCKS))
def test_bootstrap_refuses_a_corrupt_conda_lock_yml(project, tmp_path, case):
    (project / "conda-lock.yml").write_bytes(CORRUPT_LOCKS[case])
    mac = FakeMac(tmp_path)
    done = mac.run(project, "--no-verify")
    assert done.returncode == 5, done.stdout + done.stderr
    assert not any(call.startswith("conda: create") for call in mac.calls())


@pytest.mark.parametrize("case", ["not-utf8", "a-list", "not-yaml"])
def test_lock_force_repairs_an_unreadable_conda_lock_yml(
    real_lock, tmp_path, capsys, case
):
    project, served = real_lock
    copy = tmp_path / "demo"
    shutil.copytree(project, copy)
    (copy / "conda-lock.yml").write_bytes(CORRUPT_LOCKS[case])
    code, _, err = cli(
        capsys,
        "lock",
        "--force",
        "--dir",
        copy,
        "--channel",
        CHANNEL_URL,
        "--pypi-index",
        served.url,
        "--keep-mirror-urls",
    )
    assert code == 0, err
    code, _, err = cli(capsys, "lock", "--check", "--dir", copy)
    assert code == 0, err


def test_the_python_check_reports_nothing_for_its_own_render(project):
    document = yaml.safe_load((project / "conda-lock.yml").read_text())
    text = (project / EXPLICIT).read_text()
    header = [
        line
        for line in text.split("@EXPLICIT")[0].splitlines()
        if not line.startswith("# platform: ")  # render_explicit adds it
    ]
    assert check_explicit(text, document, "osx-arm64", header, EXPLICIT) == []


# ---- torn cache entries --------------------------------------------------------------

URL = "https://pypi.org/pypi/tensorflow-metal/json"


def _entry(cache: HttpCache) -> tuple[Path, Path]:
    cache.put(URL, b'{"info": {}}', etag='"x"', last_modified=None, max_age=60)
    return cache._paths(URL)


TORN = {
    "meta-a-list": lambda meta, body: meta.write_text("[1, 2]"),
    "meta-no-fetch-time": lambda meta, body: meta.write_text(
        json.dumps(
            {k: v for k, v in json.loads(meta.read_text()).items() if k != "fetched_at"}
        )
    ),
    "meta-fetch-time-a-word": lambda meta, body: meta.write_text(
        meta.read_text().replace('"fetched_at": ', '"fetched_at": "soon", "x": ')
    ),
    "meta-max-age-a-list": lambda meta, body: meta.write_text(
        meta.read_text().replace('"max_age": 60', '"max_age": [60]')
    ),
    "meta-not-utf8": lambda meta, body: meta.write_bytes(b"\xff\xfe{}"),
    "meta-truncated": lambda meta, body: meta.write_text(meta.read_text()[:20]),
    "meta-a-directory": lambda meta, body: (meta.unlink(), meta.mkdir()),
    "body-truncated": lambda meta, body: body.write_bytes(body.read_bytes()[:5]),
    "body-missing": lambda meta, body: body.unlink(),
    "body-a-directory": lambda meta, body: (body.unlink(), body.mkdir()),
}


@pytest.mark.parametrize("case", sorted(TORN))
def test_a_torn_cache_entry_is_a_miss(tmp_path, case):
    cache = HttpCache(tmp_path / "http")
    meta, body = _entry(cache)
    assert cache.get(URL) is not None
    TORN[case](meta, body)
    assert cache.get(URL) is None


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path):
    (tmp_path / "http").write_text("a file where the cache directory should be")
    cache = HttpCache(tmp_path / "http")
    cache.put(URL, b"{}", etag=None, last_modified=None, max_age=None)
    assert cache.get(URL) is None


@pytest.mark.parametrize("case", ["meta-a-list", "body-truncated", "meta-not-utf8"])
def test_update_offline_with_a_torn_cache_is_one_line(
    tmp_path, capsys, monkeypatch, case
):
    project = new_project(capsys, tmp_path)
    cache_dir = Path(__import__("os").environ["ENVGEN_CACHE_DIR"]) / "http"
    cache = HttpCache(cache_dir)
    for name in ("tensorflow-metal", "tensorflow-macos", "tensorflow"):
        url = f"https://pypi.org/pypi/{name}/json"
        cache.put(
            url,
            b'{"info": {}, "releases": {}}',
            etag=None,
            last_modified=None,
            max_age=60,
        )
        TORN[case](*cache._paths(url))
    monkeypatch.chdir(project)
    code, _, err = cli(capsys, "update", "--offline")
    assert code == 3, err
    assert_one_error_line(err)


def _slice_blobs() -> dict[str, bytes]:
    import struct

    from envgen.abi.machoslice import _MAGIC, FORMAT

    def framed(header: object, tail: bytes = b"") -> bytes:
        text = json.dumps(header).encode()
        return _MAGIC + struct.pack("<I", len(text)) + text + tail

    return {
        "empty": b"",
        "magic-only": _MAGIC,
        "short-length": _MAGIC + b"\x01",
        "header-a-list": framed([1, 2]),
        "header-not-json": _MAGIC + struct.pack("<I", 3) + b"{{{",
        "pieces-not-pairs": framed(
            {"format": FORMAT, "pieces": [1], "size": 1, "with_imports": False}
        ),
        "pieces-too-long": framed(
            {"format": FORMAT, "pieces": [[0, 10]], "size": 10, "with_imports": False},
            b"x",
        ),
        "no-size": framed({"format": FORMAT, "pieces": [], "with_imports": False}),
    }


@pytest.mark.parametrize("case", sorted(_slice_blobs()))
def test_a_torn_symbol_table_cache_entry_is_a_miss(case):
    """envgen/abi's cached dyld tables: a torn file raises only what the wheel store
    treats as a miss."""
    import struct

    from envgen.abi.machoslice import SparseImage

    with pytest.raises((ValueError, KeyError, TypeError, AttributeError, struct.error)):
        SparseImage.loads(_slice_blobs()[case])


CORRUPT_ENVIRONMENTS = {
    "not-utf8": lambda path: path.write_bytes(b"\xff\xfe name: x\n"),
    "a-list": lambda path: path.write_text("- a\n- b\n"),
    "not-yaml": lambda path: path.write_text("name: [\n"),
    "empty": lambda path: path.write_text(""),
    "a-directory": lambda path: (path.unlink(), path.mkdir()),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_ENVIRONMENTS))
def test_lock_on_a_corrupt_environment_yml_is_bad_input_naming_it(
    project, capsys, case
):
    CORRUPT_ENVIRONMENTS[case](project / "environment.yml")
    before = snapshot(project)
    code, _, err = cli(capsys, "lock", "--dir", project, "--solver", "rattler")
    assert code == 2, err
    assert_one_error_line(err, "environment.yml")
    assert snapshot(project) == before


@pytest.mark.parametrize("kind", ["directory", "fifo", "device link"])
def test_an_explicit_file_that_is_no_regular_file_is_named_so(project, capsys, kind):
    explicit = project / "conda-osx-arm64.lock"
    explicit.unlink()
    if kind == "directory":
        explicit.mkdir()
    elif kind == "fifo":
        os.mkfifo(explicit)
    else:
        explicit.symlink_to("/dev/zero")
    code, _, err = cli(capsys, "lock", "--check", "--dir", project)
    assert code == 1, err
    assert_one_error_line(err, "conda-osx-arm64.lock is not a regular file")
