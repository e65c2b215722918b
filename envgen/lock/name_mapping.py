"""The PyPI ↔ conda-forge package-name mapping envgen ships, so conda-lock never
downloads one.

conda-lock needs it to know which pip requirement a conda package already satisfies
(``flatbuffers`` on PyPI is ``python-flatbuffers`` on conda-forge; ``typing-extensions``
is ``typing_extensions``). By default it downloads grayskull's table from GitHub, which
is unreachable offline; envgen passes ``envgen/data/pypi_to_conda.json`` (conda-lock's
JSON mapping format) instead.

How the file is made (``python -m envgen.lock.name_mapping GRAYSKULL_JSON``): every
entry of grayskull's mapping (regro/cf-graph-countyfair, as bundled in the conda-pypi
0.13.1 wheel on PyPI) whose conda name differs from the PyPI name — a name absent from
the file maps to itself, so only those entries carry information — plus an explicit
same-name entry for each package TensorFlow environments need (``TF_CLOSURE_NAMES``),
marked ``mapping_source: envgen``, so a reader can see those were considered.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from envgen.resources import data_path

MAPPING_PATH = data_path("pypi_to_conda.json")

# PyPI names in the dependency closures of tensorflow-macos / tensorflow /
# tensorflow-metal and envgen's optional extras, checked to have a conda-forge package
# of the same name unless the grayskull table says otherwise (flatbuffers,
# typing-extensions, ml-dtypes, matplotlib, tzdata).
TF_CLOSURE_NAMES = (
    "absl-py",
    "astunparse",
    "cached-property",
    "certifi",
    "charset-normalizer",
    "flatbuffers",
    "gast",
    "google-auth",
    "google-auth-oauthlib",
    "google-pasta",
    "grpcio",
    "h5py",
    "idna",
    "importlib-metadata",
    "ipykernel",
    "jupyterlab",
    "keras",
    "keras-preprocessing",
    "markdown",
    "markdown-it-py",
    "markupsafe",
    "mdurl",
    "ml-dtypes",
    "namex",
    "numpy",
    "oauthlib",
    "optree",
    "packaging",
    "pip",
    "protobuf",
    "pyasn1",
    "pyasn1-modules",
    "pygments",
    "requests",
    "requests-oauthlib",
    "rich",
    "rsa",
    "setuptools",
    "six",
    "tensorboard",
    "tensorboard-data-server",
    "tensorboard-plugin-wit",
    "tensorflow-estimator",
    "termcolor",
    "typing-extensions",
    "urllib3",
    "werkzeug",
    "wheel",
    "wrapt",
    "zipp",
    "matplotlib",
    "pandas",
    "pillow",
    "scipy",
    "tqdm",
    "tzdata",
)


def build_mapping(grayskull: dict[str, dict]) -> dict[str, dict]:
    """The entries envgen ships, from a grayskull mapping table."""
    table: dict[str, dict] = {}
    for key, entry in grayskull.items():
        pypi = canonicalize_name(entry.get("pypi_name") or key)
        if entry.get("conda_name") and entry["conda_name"] != pypi:
            table[pypi] = {
                "pypi_name": pypi,
                "conda_name": entry["conda_name"],
                "import_name": entry.get("import_name", ""),
                "mapping_source": "grayskull",
            }
    for name in TF_CLOSURE_NAMES:
        pypi = canonicalize_name(name)
        if pypi not in table:
            table[pypi] = {
                "pypi_name": pypi,
                "conda_name": pypi,
                "import_name": "",
                "mapping_source": "envgen",
            }
    return dict(sorted(table.items()))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(
            "usage: python -m envgen.lock.name_mapping GRAYSKULL_MAPPING.json",
            file=sys.stderr,
        )
        return 2
    table = build_mapping(json.loads(Path(argv[0]).read_text()))
    MAPPING_PATH.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    print(f"wrote {len(table)} entries to {MAPPING_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
