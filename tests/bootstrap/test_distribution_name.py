"""envgen's distribution name on PyPI: `envgen` itself belongs to an unrelated 2016
project ("A Virtual Environment Generator", Python 2), so pyproject.toml names a
distribution envgen can own, and nothing points at `envgen`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomli

PYPROJECT = Path(__file__).parent.parent.parent / "pyproject.toml"


def project_table() -> dict:
    return tomli.loads(PYPROJECT.read_text())["project"]


def test_the_distribution_is_not_the_taken_name_and_the_command_stays_envgen():
    project = project_table()
    assert project["name"] != "envgen"
    assert project["scripts"]["envgen"] == "envgen.cli:main"


@pytest.mark.network
def test_the_distribution_name_is_free_on_pypi_or_ours():
    """404 (free), or a project that is ours: the same summary as pyproject.toml's
    description."""
    project = project_table()
    url = f"https://pypi.org/pypi/{project['name']}/json"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            info = json.load(answer)["info"]
    except urllib.error.HTTPError as error:
        assert error.code == 404, f"{url} answered {error.code}"
        return
    assert info["summary"] == project["description"], (
        f"{project['name']} on PyPI is someone else's: {info['summary']!r}"
        f" ({info.get('home_page') or info.get('project_urls')}); pick another name in"
        " pyproject.toml"
    )
