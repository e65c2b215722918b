"""locks/: envgen's known-good pip pin sets, checked against the catalog they were made
from, and how a new project takes its pip pins from them."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import envgen.catalog.pinsets
from envgen.catalog import pairs
from envgen.catalog.lines import load_catalog, parse_catalog
from envgen.catalog.pinsets import (
    locks_dir,
    parse_pin_set,
    pin_set_metal,
    pin_set_name,
    read_pin_set,
    stale_fields,
)
from envgen.generate.plan import make_plan
from envgen.generate.spec import ProjectSpec
from envgen.pypi.tags import ARM64_ARCHES, parse_wheel_tags

CATALOG = load_catalog()
LINES = [
    pytest.param(line, python, id=f"{line.tf}-py{python}")
    for line in CATALOG.lines
    for python in line.pythons
]
REGENERATE = (
    "regenerate with `envgen catalog refresh --write-locks` (needs PyPI and uv)"
)


@pytest.mark.parametrize("line,python", LINES)
def test_every_catalog_line_and_python_has_a_current_pin_set(line, python):
    pin_set = read_pin_set(line.tf, python)
    assert pin_set is not None, (
        f"locks/ has no {pin_set_name(line.tf, python)}: {REGENERATE}"
    )
    assert stale_fields(pin_set, line) == [], (
        f"made from another version of the catalog line: {REGENERATE}"
    )
    assert pin_set.field("python") == python


@pytest.mark.parametrize("line,python", LINES)
def test_pin_sets_respect_the_line(line, python):
    pin_set = read_pin_set(line.tf, python)
    assert pin_set is not None, (
        f"locks/ has no {pin_set_name(line.tf, python)}: {REGENERATE}"
    )
    pins = {pin.name: pin for pin in pin_set.pins}
    assert pins[pairs.tf_package(line, line.version)].version == line.version
    metal = pin_set_metal(
        line, python
    )  # the line's own plugin, or its alternative for this Python
    if metal:
        assert pins["tensorflow-metal"].version == metal
        assert (
            metal == line.metal or pairs.metal_status(line, metal, python) == "inferred"
        )
    else:
        assert "tensorflow-metal" not in pins
    if {"tensorflow", "tensorflow-macos"} <= set(
        pins
    ):  # only as 2.13+'s thin alias of the same release
        macos, plain = pins["tensorflow-macos"].version, pins["tensorflow"].version
        assert Version(macos) >= Version("2.13") and Version(macos) == Version(plain), (
            "two different TensorFlows in one set"
        )
    for name, cap in line.pip_caps:
        if name in pins:
            assert Version(pins[name].version) in SpecifierSet(cap), (
                f"{name} {pins[name].version} breaks the cap {cap}"
            )
    assert not set(pins) & (
        {name for name, _ in line.conda} | {"pip", "python", "setuptools", "wheel"}
    ), "a conda-provided package is pinned for pip"
    for pin in pin_set.pins:
        assert pin.hashes, f"{pin.name} has no hash"
        installed = [
            entry for entry in pin_set.wheels + pin_set.sdists if entry[0] == pin.name
        ]
        assert len(installed) == 1, (
            f"{pin.name}: which file installs it is not recorded"
        )
        assert installed[0][2] in pin.hashes, (
            f"{pin.name}: the recorded file's sha256 is not among its hashes"
        )
    for _name, filename, _ in pin_set.wheels:
        tags = parse_wheel_tags(filename)
        assert tags.platform_any or set(tags.arches) & set(ARM64_ARCHES), (
            f"{filename} is not an arm64 wheel"
        )
        if tags.macos_min:
            assert Version(tags.macos_min) <= Version(line.min_macos), (
                f"{filename} needs a newer macOS than {line.min_macos}"
            )


def test_locks_holds_no_pin_set_for_a_line_the_catalog_lacks():
    expected = {
        pin_set_name(line.tf, python)
        for line in CATALOG.lines
        for python in line.pythons
    }
    present = {path.name for path in locks_dir().glob("tf-*.txt")}
    assert present <= expected, (
        f"stale pin sets {sorted(present - expected)}: {REGENERATE}"
    )


# ------------------------------------------------------------- a new project's pip side

LINE = """schema = 1

[[lines]]
tf = "2.6"
package = "tensorflow-macos"
version = "2.6.0"
versions = ["2.6.0"]
metal = "0.2.0"
metal_range = ">=0.2.0,<0.3"
pythons = ["3.8", "3.9"]
min_macos = "12.0"
platforms = ["osx-arm64", "linux-64"]
status = "verified"
[lines.conda]
numpy = ">=1.19.5,<1.20"
[lines.pip_caps]
keras = ">=2.6,<2.7"
"""

PIN_SET = (
    "#   line: 2.6\n"
    "#   python: 3.9\n"
    "#   status: verified\n"
    "#   tensorflow: tensorflow-macos==2.6.0\n"
    "#   metal: tensorflow-metal==0.2.0\n"
    "#   caps: keras>=2.6,<2.7\n"
    "#   conda: numpy>=1.19.5,<1.20 (resolved 1.19.5)\n"
    "#   wheel keras keras-2.6.0-py2.py3-none-any.whl sha256:{h1}\n"
    "#   wheel tensorflow-macos tensorflow_macos-2.6.0-cp39-cp39-macosx_11_0_arm64.whl"
    " sha256:{h2}\n"
    "#   wheel tensorflow-metal tensorflow_metal-0.2.0-cp39-cp39-macosx_11_0_arm64.whl"
    " sha256:{h3}\n"
    "keras==2.6.0 \\\n"
    "    --hash=sha256:{h1}\n"
    "tensorflow-macos==2.6.0 \\\n"
    "    --hash=sha256:{h2}\n"
    "tensorflow-metal==0.2.0 \\\n"
    "    --hash=sha256:{h3}\n"
).format(h1="1" * 64, h2="2" * 64, h3="3" * 64)


@pytest.fixture
def pin_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(envgen.catalog.pinsets, "locks_dir", lambda: tmp_path)
    (tmp_path / "tf-2.6-py3.9-osx-arm64.txt").write_text(PIN_SET)
    return tmp_path


def _pip(spec: ProjectSpec) -> tuple[list[str], str]:
    plan = make_plan(spec, parse_catalog(LINE))
    return [p.requirement for p in plan.pip_requirements], plan.pin_set


def test_a_plain_project_takes_the_exact_closure_tensorflow_first(pin_dir):
    assert _pip(ProjectSpec(name="demo", tensorflow="2.6", python="3.9")) == (
        ["tensorflow-macos==2.6.0", "tensorflow-metal==0.2.0", "keras==2.6.0"],
        "tf-2.6-py3.9-osx-arm64.txt",
    )


@pytest.mark.parametrize(
    "spec",
    [
        ProjectSpec(
            name="demo", tensorflow="2.6", python="3.8"
        ),  # no set for this Python
        ProjectSpec(
            name="demo", tensorflow="2.6", python="3.9", pip_packages=("pandas",)
        ),  # extras need room
        ProjectSpec(
            name="demo",
            tensorflow="2.6",
            python="3.9",
            platforms=("osx-arm64", "linux-64"),
        ),
    ],
    ids=["other-python", "extra-pip", "two-platforms"],
)
def test_other_projects_get_the_caps(pin_dir, spec):
    requirements, pin_set = _pip(spec)
    assert pin_set == ""
    assert "keras>=2.6,<2.7" in requirements


def test_a_pin_set_made_from_an_older_catalog_line_is_not_used(pin_dir):
    (pin_dir / "tf-2.6-py3.9-osx-arm64.txt").write_text(
        PIN_SET.replace("keras>=2.6,<2.7", "keras>=2.6")
    )
    pin_set = parse_pin_set((pin_dir / "tf-2.6-py3.9-osx-arm64.txt").read_text())
    assert stale_fields(pin_set, parse_catalog(LINE).lines[0]) == [
        "caps: keras>=2.6 in the pin set, keras>=2.6,<2.7 in the catalog"
    ]
    assert _pip(ProjectSpec(name="demo", tensorflow="2.6", python="3.9"))[1] == ""
