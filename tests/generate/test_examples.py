"""The example specs under examples/ stay valid against the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgen.catalog.lines import load_catalog
from envgen.generate.plan import make_plan
from envgen.generate.spec import parse_spec

SPECS = sorted(
    (Path(__file__).parent.parent.parent / "examples" / "specs").glob("*.toml")
)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_example_spec_plans(path):
    plan = make_plan(parse_spec(path.read_text()), load_catalog())
    assert plan.python in plan.line.pythons
    assert plan.conda_specs[0].startswith("python ")


EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "mnist-metal"


def test_example_project_is_what_envgen_renders_today():
    """examples/mnist-metal is `envgen new mnist-metal --tf 2.18 --no-lock`; re-make it
    after a template change."""
    from envgen.generate.render import render_files

    plan = make_plan(parse_spec((EXAMPLE / "envgen.toml").read_text()), load_catalog())
    for item in render_files(plan):
        assert (EXAMPLE / item.path).read_text() == item.content, (
            f"examples/mnist-metal/{item.path} is out of date: rm -r"
            " examples/mnist-metal && envgen new mnist-metal --tf 2.18 --no-lock --dir"
            " examples/mnist-metal"
        )


@pytest.mark.slow
def test_example_training_learns_and_writes_logs_and_checkpoints(tmp_path):
    """The example's train.py on TensorFlow CPU: a task it can learn, TensorBoard logs,
    one checkpoint per epoch."""
    import re
    import subprocess

    from support.tf_env import tensorflow_cpu_python

    done = subprocess.run(
        [
            str(tensorflow_cpu_python()),
            str(EXAMPLE / "train.py"),
            "--epochs",
            "2",
            "--samples",
            "600",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GPUs: none (training on the CPU)" in done.stdout
    accuracy = float(
        re.search(r"final validation accuracy: ([0-9.]+)", done.stdout).group(1)
    )
    assert accuracy > 0.5, (
        f"validation accuracy {accuracy}: the validation data is not the training task"
    )
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-01.weights.h5",
        "epoch-02.weights.h5",
    ]
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "logs" / "validation").glob("events.out.tfevents.*"))
