"""`envgen update` end to end: a generated project, recorded PyPI answers on a local
server."""

from __future__ import annotations

import json
import os

import pytest
from support.pypi_fixtures import (
    FakePyPI,
    Reply,
    add_release,
    make_test_catalog,
    recorded,
)

import envgen.catalog.lines
import envgen.generate.project
from envgen.catalog.abirecords import AbiRecords
from envgen.cli import run
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec


@pytest.fixture
def catalog(monkeypatch):
    """The tests' own catalog everywhere envgen looks one up."""
    test_catalog = make_test_catalog()
    monkeypatch.setattr(
        envgen.catalog.lines, "load_catalog", lambda *a, **k: test_catalog
    )
    monkeypatch.setattr(
        envgen.generate.project, "load_catalog", lambda *a, **k: test_catalog
    )
    monkeypatch.setattr(
        "envgen.catalog.abirecords.load_abi_records", lambda *a, **k: AbiRecords()
    )  # no shipped records either
    return test_catalog


@pytest.fixture
def pypi(monkeypatch):
    with FakePyPI() as fake:
        monkeypatch.setenv("ENVGEN_PYPI_URL", fake.url)
        yield fake


@pytest.fixture
def project(tmp_path, catalog):
    target = tmp_path / "demo"
    create_project(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), target)
    return target


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_check_reports_the_newer_verified_pair_with_diffs_and_exits_1(
    project, pypi, capsys
):
    pypi.serve_recorded()
    before = _snapshot(project)
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 1
    out = capsys.readouterr().out
    assert "project: tensorflow-macos 2.6.0 + tensorflow-metal 0.2.0, Python 3.9" in out
    assert (
        "update available: tensorflow 2.18.0 + tensorflow-metal 1.2.0 (Python 3.9) "
        " [verified]" in out
    )
    assert '-version = "2.6"' in out and '+version = "2.18"' in out  # envgen.toml diff
    assert (
        "-      - tensorflow-macos==2.6.0" in out
        and "+      - tensorflow==2.18.0" in out
    )  # environment.yml diff
    assert _snapshot(project) == before  # --check writes nothing


def test_check_by_default_stays_in_line_and_exits_0_when_only_other_lines_are_newer(
    project, pypi, capsys
):
    """A scheduled CI job on a 2.6 project stays green until the team chooses to move
    lines."""
    pypi.serve_recorded()
    assert run(["update", "--check", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert "up to date within TensorFlow 2.6" in out
    assert "newer lines: 2.9, 2.18 (`envgen update --latest`" in out
    assert run(["update", "--check", "-v", "--dir", str(project)]) == 0
    verbose = capsys.readouterr().out
    assert (
        "    tensorflow 2.18.0: another line (2.18); `envgen update --latest` moves"
        " across lines" in verbose
    )
    assert run(["update", "--check", "--latest", "--dir", str(project)]) == 1


def test_apply_moves_the_project_and_a_second_check_is_clean(project, pypi, capsys):
    pypi.serve_recorded()
    assert (
        run(["update", "--latest", "--apply", "--no-lock", "--dir", str(project)]) == 0
    )
    out = capsys.readouterr().out
    assert "applied: wrote envgen.toml, environment.yml" in out
    spec_text = (project / "envgen.toml").read_text()
    assert (
        'version = "2.18"' in spec_text and "# envgen.toml: the spec" in spec_text
    )  # edited, not rewritten
    assert 'python = "3.9"' in spec_text
    assert "tensorflow==2.18.0" in (project / "environment.yml").read_text()
    assert "tensorflow-metal==1.2.0" in (project / "environment.yml").read_text()
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_apply_re_locks_with_the_given_sources(project, pypi, capsys, monkeypatch):
    import envgen.lock.run

    asked = []
    monkeypatch.setattr(
        envgen.lock.run, "lock_project", lambda request, *a, **k: asked.append(request)
    )
    pypi.serve_recorded()
    assert (
        run(
            [
                "update",
                "--latest",
                "--apply",
                "--dir",
                str(project),
                "--channel",
                "file:///mirror/conda-forge",
                "--pypi-index",
                "http://127.0.0.1:1/simple",
            ]
        )
        == 0
    )
    assert "conda-lock.yml re-locked" in capsys.readouterr().out
    assert [(r.project_dir, r.channel, r.pypi_index) for r in asked] == [
        (project, "file:///mirror/conda-forge", "http://127.0.0.1:1/simple")
    ]


def test_apply_whose_lock_fails_says_what_was_written_and_how_to_finish(
    project, pypi, capsys, monkeypatch
):
    import envgen.lock.run
    from envgen.errors import EnvironmentProblem

    def unreachable(request, *a, **k):
        raise EnvironmentProblem(
            "conda-forge could not be reached",
            "lock offline with --channel file:///path/to/a/copy",
        )

    monkeypatch.setattr(envgen.lock.run, "lock_project", unreachable)
    pypi.serve_recorded()
    assert run(["update", "--latest", "--apply", "--dir", str(project)]) == 3
    err = capsys.readouterr().err
    assert (
        err.startswith("envgen: error: wrote envgen.toml, environment.yml, ")
        and len(err.strip().splitlines()) == 1
    )
    assert err.strip().endswith(
        "but could not re-lock: conda-forge could not be reached "
        "(hint: lock offline with --channel file:///path/to/a/copy)"
    )
    assert 'version = "2.18"' in (project / "envgen.toml").read_text()


def test_json_output_carries_the_proposal_and_freshness(project, pypi, capsys):
    pypi.serve_recorded()
    assert run(["update", "--latest", "--json", "--dir", str(project)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["update_available"] is True
    assert (
        document["proposal"]["tf_version"] == "2.18.0"
        and document["proposal"]["status"] == "verified"
    )
    assert document["pypi"]["tensorflow-metal"]["source"] == "network"
    assert set(document["diffs"]) == {"envgen.toml", "environment.yml"}


def test_new_metal_release_is_shown_as_inferred_and_never_applied(
    project, pypi, capsys
):
    metal = add_release(
        recorded("tensorflow-metal"),
        "1.3.0",
        like="1.2.0",
        uploaded="2025-08-20T12:00:00Z",
    )
    pypi.serve_recorded({"tensorflow-metal": metal})
    assert run(["update", "--latest", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert (
        "not in envgen's catalog (inferred, never applied): tensorflow 2.20.0 +"
        " tensorflow-metal 1.3.0" in out
    )
    assert "7 days before" in out


def test_pypi_down_uses_the_cache_and_says_so(project, pypi, capsys, monkeypatch):
    pypi.serve_recorded()
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 1
    capsys.readouterr()
    for name in ("tensorflow-metal", "tensorflow-macos", "tensorflow"):
        pypi.routes[f"/pypi/{name}/json"] = [Reply(503)]
    monkeypatch.setattr("envgen.pypi.client.time.sleep", lambda seconds: None)
    assert (
        run(["update", "--latest", "--check", "--refresh", "--dir", str(project)]) == 1
    )
    captured = capsys.readouterr()
    assert (
        "warning: PyPI did not answer for tensorflow-metal (HTTP 503 after 4 tries);"
        " using the answer cached" in captured.out
    )
    assert "update available" in captured.out


def test_malformed_answer_is_one_error_line_and_changes_nothing(project, pypi, capsys):
    pypi.serve_recorded()
    pypi.serve_json("tensorflow-macos", b"<html>maintenance</html>")
    before = _snapshot(project)
    assert run(["update", "--latest", "--apply", "--dir", str(project)]) == 3
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "envgen: error: PyPI's answer for tensorflow-macos" in err
        and "malformed" in err
    )
    assert _snapshot(project) == before


def test_a_fifo_where_environment_yml_was_is_refused_not_waited_on(
    project, pypi, capsys
):
    # The diff preview reads environment.yml; a FIFO there would block for ever.
    pypi.serve_recorded()
    (project / "environment.yml").unlink()
    os.mkfifo(project / "environment.yml")
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "environment.yml is not a regular file" in err


def test_a_spec_with_a_byte_order_mark_is_previewed_like_any_other(
    project, pypi, capsys
):
    pypi.serve_recorded()
    spec = project / "envgen.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + spec.read_bytes())
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 1
    assert '+version = "2.18"' in capsys.readouterr().out


def test_no_project_is_bad_input(tmp_path, pypi, capsys):
    assert run(["update", "--dir", str(tmp_path)]) == 2
    assert "no envgen.toml" in capsys.readouterr().err


def test_apply_with_a_channel_that_is_no_url_is_refused_before_writing(
    project, pypi, capsys
):
    before = {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()}
    code = run(["update", "--apply", "--dir", str(project), "--channel", "not a url"])
    assert code == 2
    assert "--channel not a url" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()} == before


def test_check_and_apply_together_are_refused(project, capsys):
    assert run(["update", "--check", "--apply", "--dir", str(project)]) == 2


@pytest.mark.network
def test_live_pypi_offers_a_tf26_project_a_newer_pair(project, capsys, monkeypatch):
    monkeypatch.delenv("ENVGEN_PYPI_URL", raising=False)
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 1
    assert "update available: tensorflow" in capsys.readouterr().out


# ------------------------------------------------------------------ recorded Mach-O
# symbol checks


def test_abi_checked_label_is_shown_beside_verified(project, pypi, capsys, monkeypatch):
    from support.abi_fixtures import abi_record, records

    monkeypatch.setattr(
        "envgen.catalog.abirecords.load_abi_records",
        lambda *a, **k: records(abi_record("1.2.0", "tensorflow", "2.18.0")),
    )
    pypi.serve_recorded()
    assert run(["update", "--latest", "--check", "--dir", str(project)]) == 1
    assert (
        "update available: tensorflow 2.18.0 + tensorflow-metal 1.2.0 (Python 3.9) "
        " [verified, ABI-checked]" in capsys.readouterr().out
    )
    assert run(["update", "--latest", "--json", "--dir", str(project)]) == 0
    assert json.loads(capsys.readouterr().out)["proposal"]["abi"] == "checked"


def test_inferred_pair_with_a_failed_check_is_not_shown_and_verbose_says_why(
    project, pypi, capsys, monkeypatch
):
    from support.abi_fixtures import LOG_MESSAGE, abi_record, records

    failed = records(
        abi_record("1.3.0", "tensorflow", "2.20.0", missing=(LOG_MESSAGE,))
    )
    monkeypatch.setattr(
        "envgen.catalog.abirecords.load_abi_records", lambda *a, **k: failed
    )
    pypi.serve_recorded(
        {
            "tensorflow-metal": add_release(
                recorded("tensorflow-metal"),
                "1.3.0",
                like="1.2.0",
                uploaded="2025-08-20T12:00:00Z",
            )
        }
    )
    assert run(["update", "--latest", "--verbose", "--dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert (
        "not in envgen's catalog (inferred" not in out
        and "tensorflow-metal 1.3.0" in out
    )
    assert (
        "    tensorflow-metal 1.3.0 + tensorflow 2.20.0: never proposed, the plugin"
        f" fails to load: Symbol not found (1 of 160): readable {LOG_MESSAGE}" in out
    )


@pytest.mark.parametrize("missing", [(), ("__ZN3tsl8internal10LogMessageC1EPKcii",)])
def test_abi_check_flag_checks_unrecorded_inferred_pairs_before_showing_them(
    project, pypi, capsys, monkeypatch, missing
):
    from support.abi_fixtures import fake_report

    asked = []

    def checker(repository, releases, **options):
        def check(metal, tf):
            asked.append((metal, tf))
            return fake_report(metal, tf, missing=missing)

        return check

    monkeypatch.setattr("envgen.abi.recording.pair_checker", checker)
    pypi.serve_recorded(
        {
            "tensorflow-metal": add_release(
                recorded("tensorflow-metal"),
                "1.3.0",
                like="1.2.0",
                uploaded="2025-08-20T12:00:00Z",
            )
        }
    )
    assert run(["update", "--latest", "--dir", str(project)]) == 0
    assert (
        asked == []
        and "tensorflow-metal 1.3.0 (Python 3.9)  [inferred]" in capsys.readouterr().out
    )  # opt-in only
    assert (
        run(["update", "--latest", "--abi-check", "--verbose", "--dir", str(project)])
        == 0
    )
    captured = capsys.readouterr()
    assert asked == [("1.3.0", "2.20.0")]
    assert "[1/1] tensorflow-metal 1.3.0 + tensorflow 2.20.0 (inferred)" in captured.err
    if missing:
        assert "not in envgen's catalog (inferred" not in captured.out
        assert (
            "tensorflow-metal 1.3.0 + tensorflow 2.20.0: never proposed, the plugin"
            " fails to load" in captured.out
        )
    else:
        assert (
            "tensorflow 2.20.0 + tensorflow-metal 1.3.0 (Python 3.9)  [inferred,"
            " ABI-checked]" in captured.out
        )


def test_abi_check_with_offline_is_refused(project, capsys):
    assert run(["update", "--abi-check", "--offline", "--dir", str(project)]) == 2
    assert (
        "envgen: error: --abi-check cannot be combined with --offline"
        in capsys.readouterr().err
    )
