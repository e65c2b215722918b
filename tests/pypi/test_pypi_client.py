"""The PyPI client against recorded answers played back by a local server
(127.0.0.1)."""

from __future__ import annotations

import json

import pytest
from support.pypi_fixtures import (
    RECORDED,
    FakePyPI,
    Reply,
    recorded,
    recorded_simple,
    yank,
)

from envgen.errors import EXIT_ENVIRONMENT
from envgen.pypi.answers import parse_json_api, parse_simple_api
from envgen.pypi.client import PyPIClient, PyPIError, fetch_all
from envgen.pypi.tags import parse_wheel_tags


def _client(server: FakePyPI, tmp_path, **options) -> PyPIClient:
    sleeps: list[float] = []
    options.setdefault(
        "max_age", 0
    )  # always ask the server unless a test says otherwise
    client = PyPIClient(
        server.url,
        cache_dir=tmp_path / "cache",
        timeout=options.pop("timeout", 2.0),
        backoff=0.01,
        **options,
    )
    client._sleep = sleeps.append  # record the backoff instead of sleeping
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


@pytest.fixture
def server():
    with FakePyPI() as fake:
        yield fake


# ------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("filename", "python", "platform", "expected"),
    [
        (
            "tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl",
            "3.9",
            "osx-arm64",
            True,
        ),
        (
            "tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl",
            "3.10",
            "osx-arm64",
            False,
        ),
        (
            "tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl",
            "3.9",
            "osx-64",
            False,
        ),
        ("tensorflow-2.16.1-cp39-cp39-macosx_10_15_x86_64.whl", "3.9", "osx-64", True),
        (
            "tensorflow-2.16.1-cp39-cp39-macosx_10_15_x86_64.whl",
            "3.9",
            "osx-arm64",
            False,
        ),
        (
            "tensorflow-2.16.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "3.9",
            "linux-64",
            True,
        ),
        (
            "tensorflow-2.16.1-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "3.9",
            "linux-64",
            False,
        ),
        (
            "cryptography-42.0.0-cp39-abi3-macosx_10_12_universal2.whl",
            "3.12",
            "osx-arm64",
            True,
        ),
        (
            "cryptography-42.0.0-cp39-abi3-macosx_10_12_universal2.whl",
            "3.8",
            "osx-arm64",
            False,
        ),
        ("keras-2.6.0-py2.py3-none-any.whl", "3.9", "osx-arm64", True),
    ],
)
def test_wheel_tags_decide_where_a_wheel_installs(filename, python, platform, expected):
    from envgen.pypi.models import DistFile

    dist = DistFile(
        filename,
        "wheel",
        "",
        "0" * 64,
        None,
        None,
        None,
        False,
        "",
        parse_wheel_tags(filename),
    )
    assert dist.installs_on(python, platform) is expected


def test_wheel_tags_read_macos_minimum_and_architecture():
    tags = parse_wheel_tags("tensorflow_metal-1.2.0-cp312-cp312-macosx_12_0_arm64.whl")
    assert (tags.pythons, tags.macos_min, tags.arches, tags.abi3) == (
        ("3.12",),
        "12.0",
        ("arm64",),
        False,
    )
    assert (
        parse_wheel_tags("x-1-cp39-abi3-macosx_11_0_universal2.whl").tag_text
        == "cp39-abi3 macosx 11.0 universal2"
    )


def test_recorded_json_answer_yields_releases_with_times_tags_and_hashes():
    releases = parse_json_api(
        "tensorflow-metal", (RECORDED / "tensorflow-metal.json").read_bytes()
    )
    by_version = {r.version: r for r in releases}
    assert list(by_version)[:3] == ["0.1.0", "0.1.1", "0.1.2"]  # PEP 440 order
    metal = by_version["0.2.0"]
    assert metal.upload_time.isoformat().startswith("2021-09-30")
    assert {w.tags.pythons for w in metal.wheels_for("3.9", "osx-arm64")} == {("3.9",)}
    assert metal.wheels_for("3.10", "osx-arm64") == ()
    assert all(len(f.sha256) == 64 for f in metal.files) and not metal.yanked
    # A requires_python that excludes a version wins over the tag.
    assert by_version["1.2.0"].pythons_for("osx-arm64", ["3.8", "3.9", "3.12"]) == (
        "3.9",
        "3.12",
    )


def test_requires_python_excluding_early_patches_still_admits_the_minor():
    """cryptography 47 says '!=3.9.0,!=3.9.1,>=3.8': a conda env's newest 3.9 patch
    installs it."""
    from envgen.pypi.answers import _dist_file

    wheel = _dist_file(
        "cryptography-47.0.0-cp38-abi3-macosx_10_9_universal2.whl",
        url="",
        sha256="0" * 64,
        size=1,
        requires_python="!=3.9.0,!=3.9.1,>=3.8",
        upload_time=None,
        yanked=False,
        yanked_reason=None,
    )
    assert wheel.installs_on("3.9", "osx-arm64", "12.0")
    assert not _dist_file(
        "x-1-py3-none-any.whl",
        url="",
        sha256="0" * 64,
        size=1,
        requires_python="<3.9.5",
        upload_time=None,
        yanked=False,
        yanked_reason=None,
    ).supports_python("3.9")


def test_a_yanked_reason_that_is_not_a_string_is_read_as_none_given():
    """A release's yanked_reason is always text: a number in the answer is not kept."""
    document = yank(recorded("tensorflow-metal"), "0.2.0", "")
    for item in document["releases"]["0.2.0"]:
        item["yanked_reason"] = 42
    releases = parse_json_api("tensorflow-metal", json.dumps(document).encode())
    metal = next(r for r in releases if r.version == "0.2.0")
    assert metal.yanked and metal.yanked_reason == ""
    assert {f.yanked_reason for f in metal.files} == {""}


def test_simple_api_answer_agrees_with_json_api():
    from_json = {
        r.version: {f.sha256 for f in r.files}
        for r in parse_json_api(
            "tensorflow-metal", (RECORDED / "tensorflow-metal.json").read_bytes()
        )
    }
    from_simple = {
        r.version: {f.sha256 for f in r.files}
        for r in parse_simple_api(
            "tensorflow-metal", json.dumps(recorded_simple("tensorflow-metal")).encode()
        )
    }
    assert from_simple == from_json
    simple = {
        r.version: r
        for r in parse_simple_api(
            "tensorflow-metal", json.dumps(recorded_simple("tensorflow-metal")).encode()
        )
    }
    assert simple["0.2.0"].upload_time.isoformat().startswith("2021-09-30")


# ----------------------------------------------------------------------- HTTP behaviour


def test_answer_is_cached_and_revalidated_with_etag(server, tmp_path):
    server.serve_json(
        "tensorflow-metal", recorded("tensorflow-metal"), headers={"ETag": '"v1"'}
    )
    client = _client(server, tmp_path)
    first = client.releases("tensorflow-metal")
    second = client.releases("tensorflow-metal")
    assert (first.source, second.source) == ("network", "revalidated")
    assert server.requests[1][1].get("If-None-Match") == '"v1"'
    assert [r.version for r in second.releases] == [r.version for r in first.releases]


def test_last_modified_is_sent_back_as_if_modified_since(server, tmp_path):
    stamp = "Fri, 31 Jan 2025 10:00:00 GMT"
    server.serve_json(
        "tensorflow-metal",
        recorded("tensorflow-metal"),
        headers={"Last-Modified": stamp},
    )
    client = _client(server, tmp_path)
    client.releases("tensorflow-metal")
    assert client.releases("tensorflow-metal").source == "revalidated"
    assert server.requests[1][1].get("If-Modified-Since") == stamp


def test_recent_cache_answers_without_asking(server, tmp_path):
    server.serve_json("tensorflow-metal", recorded("tensorflow-metal"))
    client = _client(server, tmp_path, max_age=600)
    client.releases("tensorflow-metal")
    assert client.releases("tensorflow-metal").source == "cache"
    assert server.hits("tensorflow-metal") == 1
    refreshing = _client(server, tmp_path, max_age=600, refresh=True)
    assert refreshing.releases("tensorflow-metal").source == "network"
    assert server.hits("tensorflow-metal") == 2


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    good = json.dumps(recorded("tensorflow-metal")).encode()
    server.routes["/pypi/tensorflow-metal/json"] = [
        Reply(503),
        Reply(500),
        Reply(200, good),
    ]
    client = _client(server, tmp_path)
    answer = client.releases("tensorflow-metal")
    assert answer.source == "network" and answer.get("0.2.0") is not None
    assert server.hits("tensorflow-metal") == 3
    assert client.sleeps == [0.01, 0.02]


def test_persistent_500s_fall_back_to_the_cache_with_a_warning(server, tmp_path):
    server.serve_json(
        "tensorflow-metal", recorded("tensorflow-metal"), then=[Reply(500)]
    )
    client = _client(server, tmp_path, retries=2)
    client.releases("tensorflow-metal")
    answer = client.releases("tensorflow-metal")
    assert answer.source == "stale-cache" and answer.get("0.2.0") is not None
    assert (
        len(answer.warnings) == 1
        and "HTTP 500 after 3 tries" in answer.warnings[0]
        and "cached" in answer.warnings[0]
    )
    assert server.hits("tensorflow-metal") == 1 + 3


def test_timeout_is_retried_then_falls_back_to_the_cache(server, tmp_path):
    body = json.dumps(recorded("tensorflow-metal")).encode()
    server.serve_json(
        "tensorflow-metal",
        recorded("tensorflow-metal"),
        then=[Reply(200, body, delay=1.5)],
    )
    client = _client(server, tmp_path, timeout=0.3, retries=1)
    client.releases("tensorflow-metal")
    answer = client.releases("tensorflow-metal")
    assert answer.source == "stale-cache"
    assert "timed out after 2 tries" in answer.warnings[0]


def test_no_answer_and_no_cache_is_an_environment_error(server, tmp_path):
    server.serve_json("tensorflow-metal", b"", status=502)
    client = _client(server, tmp_path, retries=1)
    with pytest.raises(PyPIError) as failure:
        client.releases("tensorflow-metal")
    assert (
        failure.value.exit_code == EXIT_ENVIRONMENT
        and "HTTP 502" in failure.value.message
    )


def test_malformed_json_is_a_clear_error_and_leaves_the_cache_alone(server, tmp_path):
    server.serve_json(
        "tensorflow-metal",
        recorded("tensorflow-metal"),
        then=[Reply(200, b'{"releases": {"1.0": [')],
    )
    client = _client(server, tmp_path)
    client.releases("tensorflow-metal")
    cache_files = {
        p: p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()
    }
    with pytest.raises(PyPIError) as failure:
        client.releases("tensorflow-metal")
    assert (
        "malformed" in failure.value.message
        and "tensorflow-metal" in failure.value.message
    )
    assert {
        p: p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()
    } == cache_files


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"releases": []}', b'{"releases": {"1.0": [{"filename": "x.whl"}]}}'],
)
def test_json_of_the_wrong_shape_is_malformed_too(server, tmp_path, body):
    server.serve_json("tensorflow-metal", body)
    with pytest.raises(PyPIError, match="malformed"):
        _client(server, tmp_path).releases("tensorflow-metal")
    assert not list((tmp_path / "cache").rglob("*.body"))


def test_unknown_package_names_the_package(server, tmp_path):
    with pytest.raises(PyPIError, match="no project 'tensorflow-metall'"):
        _client(server, tmp_path).releases("tensorflow-metall")


def test_offline_mode_answers_from_the_cache_with_its_age(server, tmp_path):
    server.serve_json("tensorflow-metal", recorded("tensorflow-metal"))
    _client(server, tmp_path).releases("tensorflow-metal")
    answer = _client(server, tmp_path, offline=True).releases("tensorflow-metal")
    assert answer.source == "cache" and 0 <= answer.age_seconds < 60
    assert server.hits("tensorflow-metal") == 1
    with pytest.raises(
        PyPIError, match="offline and no cached PyPI answer for tensorflow"
    ):
        _client(server, tmp_path, offline=True).releases("tensorflow")


def test_simple_api_is_asked_with_the_pep691_accept_header(server, tmp_path):
    server.routes["/simple/tensorflow-metal/"] = [
        Reply(
            200,
            json.dumps(recorded_simple("tensorflow-metal")).encode(),
            {"Content-Type": "application/vnd.pypi.simple.v1+json"},
        )
    ]
    answer = _client(server, tmp_path, api="simple").releases("tensorflow-metal")
    assert answer.get("1.2.0").wheels_for("3.12", "osx-arm64")
    assert server.requests[0][1]["Accept"] == "application/vnd.pypi.simple.v1+json"


def test_packages_are_fetched_concurrently(server, tmp_path):
    for name in ("tensorflow-metal", "tensorflow-macos", "tensorflow"):
        server.serve_json(name, recorded(name), delay=0.3)
    answers = fetch_all(
        _client(server, tmp_path),
        ["tensorflow-metal", "tensorflow-macos", "tensorflow"],
    )
    assert set(answers) == {"tensorflow-metal", "tensorflow-macos", "tensorflow"}
    assert server.max_in_flight >= 2


@pytest.mark.network
def test_live_pypi_knows_tensorflow_metal_wheels(tmp_path):
    answer = PyPIClient(cache_dir=tmp_path).releases("tensorflow-metal")
    release = answer.get("0.2.0")
    assert release is not None and release.wheels_for("3.9", "osx-arm64")
    simple = PyPIClient(api="simple", cache_dir=tmp_path).releases("tensorflow-metal")
    assert {f.sha256 for f in simple.get("0.2.0").files} == {
        f.sha256 for f in release.files
    }
