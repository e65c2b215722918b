"""The pip side's pure parts: which file a pin installs, uv's output and conflicts,
canonical URLs."""

from __future__ import annotations

import pytest

from envgen.lock import canonical, simple_index
from envgen.lock.canonical import Sources, choose_sources
from envgen.lock.pipside import PipTarget, _held_conflicts, choose_file, supported_tags
from envgen.lock.simple_index import IndexFile, _from_html, _from_json
from envgen.lock.uvcompile import parse_compiled

MAC = PipTarget("osx-arm64", "3.9.18", "12.0")


def priority(target: PipTarget = MAC) -> dict:
    return {tag: rank for rank, tag in enumerate(supported_tags(target))}


def files(*names: str) -> list[IndexFile]:
    return [
        IndexFile(name, f"https://files.example/{name}", f"{i:064x}")
        for i, name in enumerate(names)
    ]


def test_the_most_specific_wheel_for_the_mac_wins_and_foreign_ones_never_do():
    listed = files(
        "pkg-1.0-cp39-cp39-macosx_10_9_x86_64.whl",
        "pkg-1.0-py3-none-any.whl",
        "pkg-1.0-cp39-cp39-macosx_10_9_universal2.whl",
        "pkg-1.0-cp39-cp39-macosx_11_0_arm64.whl",
        "pkg-1.0.tar.gz",
    )
    hashes = {f.sha256 for f in listed}
    assert (
        choose_file(listed, hashes, priority()).filename
        == "pkg-1.0-cp39-cp39-macosx_11_0_arm64.whl"
    )
    assert choose_file(listed[:3], hashes, priority()).filename.endswith(
        "universal2.whl"
    )
    assert choose_file(listed[:1], hashes, priority()) is None  # x86_64 only
    assert (
        choose_file([listed[0], listed[4]], hashes, priority()).filename
        == "pkg-1.0.tar.gz"
    )


def test_a_wheel_for_a_newer_macos_than_the_minimum_is_not_chosen():
    listed = files(
        "pkg-1.0-cp39-cp39-macosx_13_0_arm64.whl",
        "pkg-1.0-cp39-cp39-macosx_11_0_arm64.whl",
    )
    hashes = {f.sha256 for f in listed}
    assert choose_file(listed, hashes, priority()).filename.endswith(
        "macosx_11_0_arm64.whl"
    )
    assert choose_file(
        listed, hashes, priority(PipTarget("osx-arm64", "3.9.18", "13.0"))
    ).filename.endswith("macosx_13_0_arm64.whl")


def test_only_files_with_a_pinned_hash_are_candidates():
    listed = files(
        "pkg-1.0-py3-none-any.whl", "pkg-1.0-cp39-cp39-macosx_11_0_arm64.whl"
    )
    assert (
        choose_file(listed, {listed[0].sha256}, priority()).filename
        == "pkg-1.0-py3-none-any.whl"
    )


def test_uv_output_gives_pins_hashes_and_who_requires_them():
    text = """absl-py==0.15.0 \\
    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \\
    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    # via
    #   tensorboard
    #   Tensorflow_Macos
six==1.15.0+envgen.conda \\
    --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
    # via
    #   -c constraints.txt
    #   absl-py
tensorflow-macos==2.6.0 \\
    --hash=sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
    # via -r requirements.in
"""
    pins = parse_compiled(text)
    assert pins[0] == (
        "absl-py",
        "0.15.0",
        ("a" * 64, "b" * 64),
        ("tensorboard", "tensorflow-macos"),
    )
    assert pins[1] == ("six", "1.15.0+envgen.conda", ("c" * 64,), ("absl-py",))
    assert pins[2] == ("tensorflow-macos", "2.6.0", ("d" * 64,), ())


def test_uv_explanations_name_what_pip_needs_of_a_conda_package():
    held = {"six", "numpy"}
    text = (
        "Because tensorflow-macos==2.6.0 depends on six>=1.15.0,<1.16.dev0 and"
        " six==1.16.0+envgen.conda, we can conclude that tensorflow-macos==2.6.0 cannot"
        " be used. And because you require numpy==1.26.4 and keras==2.6.0 depends on"
        " absl-py>=1"
    )
    assert _held_conflicts(text, held) == (
        ("numpy", "==1.26.4", "environment.yml"),
        ("six", ">=1.15.0,<1.16.dev0", "tensorflow-macos"),
    )


def test_simple_index_pages_in_json_and_html():
    page = "https://mirror.example/simple/pkg/"
    document = {
        "files": [
            {
                "filename": "pkg-1.0.tar.gz",
                "url": "../../f/pkg-1.0.tar.gz#x",
                "hashes": {"sha256": "a" * 64},
            }
        ]
    }
    assert _from_json(document, page) == [
        IndexFile("pkg-1.0.tar.gz", "https://mirror.example/f/pkg-1.0.tar.gz", "a" * 64)
    ]
    html = (
        f'<a href="/f/pkg-1.0-py3-none-any.whl#sha256={"B" * 64}"'
        ' data-yanked="">pkg-1.0-py3-none-any.whl</a>'
    )
    assert _from_html(html, page) == [
        IndexFile(
            "pkg-1.0-py3-none-any.whl",
            "https://mirror.example/f/pkg-1.0-py3-none-any.whl",
            "b" * 64,
            True,
        )
    ]


# ---- canonical URLs and what a lock was made against ---------------------------------


def test_conda_urls_from_a_mirror_become_conda_forges():
    mirror = "file:///srv/conda-forge"
    url = f"{mirror}/osx-arm64/numpy-1.26.4-py312h1_0.conda"
    assert (
        canonical.conda_url(url, mirror + "/")
        == "https://conda.anaconda.org/conda-forge/osx-arm64/numpy-1.26.4-py312h1_0.conda"
    )
    assert (
        canonical.conda_url("https://elsewhere/x.conda", mirror)
        == "https://elsewhere/x.conda"
    )


def test_a_later_lock_is_made_against_what_the_last_one_was():
    recorded = Sources(
        "file:///srv/cf", "http://127.0.0.1:8000/simple", True
    ).metadata()
    assert choose_sources(None, None, None, recorded) == Sources(
        "file:///srv/cf", "http://127.0.0.1:8000/simple", True
    )
    assert choose_sources(
        "conda-forge", "https://pypi.org/simple", False, recorded
    ) == Sources(None, "https://pypi.org/simple", False)
    assert choose_sources(None, None, None, {}) == Sources(
        None, "https://pypi.org/simple", False
    )


def test_a_pip_file_takes_pypis_url_only_when_pypi_serves_the_same_bytes(monkeypatch):
    def listed(index_url, names):
        return {
            "pkg": [
                IndexFile(
                    "pkg-1.0-py3-none-any.whl",
                    "https://files.pythonhosted.org/packages/aa/bb/c/pkg-1.0-py3-none-any.whl",
                    "a" * 64,
                )
            ]
        }

    monkeypatch.setattr(simple_index, "many_project_files", listed)
    mirror = canonical.PipFileLocation(
        "pkg",
        "pkg-1.0-py3-none-any.whl",
        "http://mirror/pkg-1.0-py3-none-any.whl",
        "a" * 64,
    )
    [located] = canonical.pypi_urls([mirror])
    assert located.url.startswith("https://files.pythonhosted.org/packages/")
    with pytest.raises(canonical.NotOnPyPI, match="has sha256"):
        canonical.pypi_urls(
            [canonical.PipFileLocation("pkg", mirror.filename, mirror.url, "f" * 64)]
        )
    with pytest.raises(canonical.NotOnPyPI, match="is not on PyPI"):
        canonical.pypi_urls(
            [
                canonical.PipFileLocation(
                    "pkg", "pkg-2.0.tar.gz", "http://mirror/pkg-2.0.tar.gz", "a" * 64
                )
            ]
        )
