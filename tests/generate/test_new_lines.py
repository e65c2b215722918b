"""`envgen new` on the lines added in late 2026 and on the pairs Pythons now follow (the
shipped catalog)."""

from __future__ import annotations

import pytest

from envgen.catalog.abirecords import load_abi_records
from envgen.catalog.lines import load_catalog
from envgen.cli import run
from envgen.generate.plan import make_plan
from envgen.generate.spec import ProjectSpec


def new(tmp_path, capsys, *args):
    target = tmp_path / "p"
    code = run(["new", "p", "--dir", str(target), "--no-lock", *args])
    captured = capsys.readouterr()
    env = (
        (target / "environment.yml").read_text()
        if (target / "environment.yml").exists()
        else ""
    )
    return code, captured.out, captured.err, env


def test_2_19_with_metal_pairs_plugin_1_2_0_and_says_it_is_beyond_apples_table(
    tmp_path, capsys
):
    code, out, err, env = new(tmp_path, capsys, "--tf", "2.19")
    assert code == 0, err
    assert (
        "TensorFlow 2.19.1 + tensorflow-metal 1.2.0 on Python 3.12 (catalog line 2.19,"
        " inferred)" in out
    )
    assert "caveat: tensorflow-metal 1.2.0 with TF 2.19 is beyond Apple's table" in out
    assert "tensorflow==2.19.1" in env and "tensorflow-metal==1.2.0" in env
    record = load_abi_records().get("1.2.0", "tensorflow", "2.19.1")
    assert record is not None and record.compatible  # the evidence the pair rests on


@pytest.mark.parametrize("tf", ["2.20", "2.21"])
def test_2_20_and_2_21_refuse_metal_in_one_line_with_the_reason_and_the_way_out(
    tmp_path, capsys, tf
):
    code, out, err, _ = new(tmp_path, capsys, "--tf", tf)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert f"no tensorflow-metal release loads into TensorFlow {tf}" in line
    assert f"`envgen catalog check-pair --metal 1.2.0 --tf {tf}.0` finds" in line
    assert "Symbol not found: _TF_AssignUpdateVariable" in line
    assert "--no-metal" in line and "--tf 2.19" in line
    assert not (tmp_path / "p").exists()  # a refusal writes nothing


def test_2_20_without_metal_is_a_cpu_project_on_tensorflows_own_newest_python(
    tmp_path, capsys
):
    code, out, err, env = new(tmp_path, capsys, "--tf", "2.20", "--no-metal")
    assert code == 0, err
    assert "TensorFlow 2.20.0 on Python 3.13 (catalog line 2.20, verified)" in out
    assert "tensorflow==2.20.0" in env and "tensorflow-metal" not in env


def test_2_21_refuses_python_3_9_naming_tensorflow_as_the_limit(tmp_path, capsys):
    code, _, err, _ = new(
        tmp_path, capsys, "--tf", "2.21", "--no-metal", "--python", "3.9"
    )
    assert code == 2
    assert "--python 3.9: tensorflow 2.21.0 has no macOS arm64 wheel for it" in err
    assert "3.10, 3.11, 3.12, 3.13" in err


def test_2_16_on_3_12_without_metal_uses_tensorflows_own_wheels(tmp_path, capsys):
    code, out, err, env = new(
        tmp_path, capsys, "--tf", "2.16", "--python", "3.12", "--no-metal"
    )
    assert code == 0, err
    assert "TensorFlow 2.16.2 on Python 3.12" in out
    assert "tensorflow-macos==2.16.2" in env and "tensorflow-metal" not in env


def test_2_16_on_3_12_with_metal_gets_plugin_1_2_0_as_an_inferred_alternative(
    tmp_path, capsys
):
    code, out, err, env = new(tmp_path, capsys, "--tf", "2.16", "--python", "3.12")
    assert code == 0, err
    assert "TensorFlow 2.16.2 + tensorflow-metal 1.2.0 on Python 3.12" in out
    assert (
        "note: tensorflow-metal 1.2.0 on Python 3.12 is an inferred alternative" in out
    )
    assert "tensorflow-metal==1.2.0" in env
    # 1.2.0 is not the Keras-3 caveat's plugin: that caveat is 1.1.0's
    assert "caveat: tensorflow-metal 1.1.0 with Keras 3" not in out


def test_2_16_with_metal_defaults_to_the_lines_own_pair_and_its_caveat(
    tmp_path, capsys
):
    code, out, err, _env = new(tmp_path, capsys, "--tf", "2.16")
    assert code == 0, err
    assert "TensorFlow 2.16.2 + tensorflow-metal 1.1.0 on Python 3.11" in out
    assert "caveat: tensorflow-metal 1.1.0 with Keras 3" in out


def test_an_exact_plugin_without_a_wheel_for_the_python_names_the_plugin():
    spec = ProjectSpec(name="p", tensorflow="2.17", metal="1.1.0", python="3.12")
    from envgen.errors import SpecError

    with pytest.raises(SpecError) as refused:
        make_plan(spec, load_catalog())
    assert "tensorflow-metal 1.1.0 has no wheel for it" in refused.value.message


def test_2_15_1_installs_from_plain_tensorflow(tmp_path, capsys):
    code, out, err, env = new(tmp_path, capsys, "--tf", "2.15.1")
    assert code == 0, err
    assert "TensorFlow 2.15.1 + tensorflow-metal 1.1.0 on Python 3.11" in out
    assert "tensorflow==2.15.1" in env and "tensorflow-macos" not in env
    older = make_plan(ProjectSpec(name="p", tensorflow="2.15.0"), load_catalog())
    assert older.tf_package == "tensorflow-macos"  # 2.15.0 keeps Apple's package


def test_every_catalog_release_makes_a_plan_or_refuses_metal_with_the_reason():
    """Done-when of the issue: every release from 2.5 on works, or refuses with the
    reason."""
    from envgen.errors import SpecError

    for line in load_catalog().lines:
        for version in line.versions:
            try:
                plan = make_plan(
                    ProjectSpec(name="p", tensorflow=version), load_catalog()
                )
                assert plan.tf_version == version and plan.metal
            except SpecError as error:
                assert not line.metal and "check-pair" in error.message
            cpu = make_plan(
                ProjectSpec(name="p", tensorflow=version, metal=False), load_catalog()
            )
            assert cpu.tf_version == version and not cpu.metal
