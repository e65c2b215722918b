"""Per-platform lock files for the team example (examples/specs/tf2.16-team.toml),
written the way `envgen lock` renders them (conda-lock.yml + conda-<platform>.lock under
envgen's hash header lines).

The artifacts are real, trimmed to a few per platform (the bootstrap tests need each
platform's own lines, not a full environment):

- conda lines (``url#md5`` as published): osx-arm64 records from
  ../shared/conda-forge-records (real conda-forge records); osx-64 and linux-64 lines as
  conda-forge published them, copied from explicit lock files that public repositories
  commit (robotframework-jupyterlibrary's .github/locks, 2023), and conda-forge's noarch
  tzdata and six. envgen pins conda packages by sha256: the osx-arm64 and noarch sha256s
  are the records' real ones (SHA256 below, from ../shared/conda-forge-records); the
  osx-64 and linux-64 lines' sha256s are not known here, so those carry a stand-in
  (sha256 of "stand-in:" + URL). The bootstrap tests compare lock files with each other
  and never download, so a stand-in is enough; it must never leave the tests.
- pip lines: the TensorFlow 2.16.2 / tensorflow-metal 1.1.0 wheels for Python 3.11 on
  each platform, file names and sha256 as PyPI's JSON API lists them (read 2026-11-23).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CONDA = "https://conda.anaconda.org/conda-forge"
PYPI = "https://files.pythonhosted.org/packages"

NOARCH = [
    f"{CONDA}/noarch/tzdata-2023c-h71feb2d_0.conda#939e3e74d8be4dac89ce83b20de2492a",
    f"{CONDA}/noarch/six-1.16.0-pyh6c4a22f_0.tar.bz2#e5f25f8dbc060e9a8d912e432202afc2",
]

CONDA_LINES = {
    "osx-arm64": [
        f"{CONDA}/osx-arm64/python-3.11.6-h47c9636_0_cpython.conda#2271df1db9534f5cac7c2d0820c3359d",
        f"{CONDA}/osx-arm64/numpy-1.26.2-py311h6d074dd_0.conda#686a22bdbc601bfe7e7243f0263c10e3",
        f"{CONDA}/osx-arm64/h5py-3.10.0-nompi_py311hd00467f_101.conda#02509be36371872baab8615fa4ef86cb",
    ],
    "osx-64": [
        f"{CONDA}/osx-64/bzip2-1.0.8-h0d85af4_4.tar.bz2#37edc4e6304ca87316e160f5ca0bd1b5",
        f"{CONDA}/osx-64/libzlib-1.2.13-h8a1eda9_5.conda#4a3ad23f6e16f99c04e166767193d700",
        f"{CONDA}/osx-64/python_abi-3.11-3_cp311.conda#5e0a069a585445333868d2c6651c3b3f",
        f"{CONDA}/osx-64/python-3.11.4-h30d4d87_0_cpython.conda#e40b3075f85db0184d5f61d17c580ef7",
    ],
    "linux-64": [
        f"{CONDA}/linux-64/readline-8.2-h8228510_1.conda#47d31b792659ce70f470b5c82fdfb7a4",
        f"{CONDA}/linux-64/zlib-1.2.13-hd590300_5.conda#68c34ec6149623be41a1933ab996a209",
        f"{CONDA}/linux-64/liblapack-3.9.0-17_linux64_openblas.conda#a2103882c46492e26500fcb56c03de8b",
        f"{CONDA}/linux-64/python-3.11.4-hab00c5b_0_cpython.conda#1c628861a2a126b9fc9363ca1b7d014e",
    ],
}

# (name, path under files.pythonhosted.org/packages, sha256)
PIP_WHEELS = {
    "osx-arm64": [
        (
            "tensorflow",
            "9d/72/6f09443493b9df2fd8a9585c9af4d9453762906a8e5735a8a5efa6e3d1e3/tensorflow-2.16.2-cp311-cp311-macosx_12_0_arm64.whl",
            "2c8a0e79395639b762e62002db99b2f6cc608f744312c9940899c1128f325331",
        ),
        (
            "tensorflow-macos",
            "05/c5/47dee312dde75b7f6c04af18287839cbede72418137ad9ed3c1965dad6ae/tensorflow_macos-2.16.2-cp311-cp311-macosx_12_0_arm64.whl",
            "13687ed18ad93757b9a8b9b5a55c434cbadb142a354888ea28581b5d278338b7",
        ),
        (
            "tensorflow-metal",
            "52/56/8373f5751011304a346f07e5423e69f809b626989d2541ae9e816ae7ced2/tensorflow_metal-1.1.0-cp311-cp311-macosx_12_0_arm64.whl",
            "1c365669fc9d764edcc1773254a477db7096975b1bff58fb37a11d7b8ca4295f",
        ),
    ],
    "osx-64": [
        (
            "tensorflow",
            "6d/69/9999c2d9e8a3b08dfcfc7e9259a05fb1da5f700936091d2eb4a7985c2776/tensorflow-2.16.2-cp311-cp311-macosx_10_15_x86_64.whl",
            "ec06570d57bfa0e2be804405e3cdc2960e94887e7619ffb6bc053e9775b695aa",
        ),
    ],
    "linux-64": [
        (
            "tensorflow",
            "43/dd/8f03331107b76e63313d2089ddfbd13f15e51fb8ed73517cdd0ab3341928/tensorflow-2.16.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "d8798dea8e2281b4a0b569d9c00e7949c0090509be363da271e1ef21828bffae",
        ),
    ],
}

# Real sha256s of the osx-arm64 and noarch records above (../shared/conda-forge-records,
# by file name).
SHA256 = {
    "python-3.11.6-h47c9636_0_cpython.conda": (
        "77054fa9a8fc30f71a18f599ee2897905a3c515202b614fa0f793add7a04a155"
    ),
    "numpy-1.26.2-py311h6d074dd_0.conda": (
        "a88e48461bea106a0ce41684625f79efe473d42cf0f0310535dcfe1d98c888ba"
    ),
    "h5py-3.10.0-nompi_py311hd00467f_101.conda": (
        "d39483368b39d5c633bc13b7c921a4c05ed56ed3a85087eb0fa76d6c446284e2"
    ),
    "tzdata-2023c-h71feb2d_0.conda": (
        "0449138224adfa125b220154408419ec37c06b0b49f63c5954724325903ecf55"
    ),
    "six-1.16.0-pyh6c4a22f_0.tar.bz2": (
        "a85c38227b446f42c5b90d9b642f2c0567880c15d72492d8da074a59c8f91dd6"
    ),
}

PLATFORMS = tuple(CONDA_LINES)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _conda_entry(platform: str, line: str) -> dict:
    url, md5 = line.split("#")
    filename = url.rsplit("/", 1)[1]
    sha256 = (
        SHA256.get(filename) or hashlib.sha256(f"stand-in:{url}".encode()).hexdigest()
    )
    name, version, _ = filename.rsplit("-", 2)
    return {
        "name": name,
        "version": version,
        "manager": "conda",
        "platform": platform,
        "dependencies": {},
        "url": url,
        "hash": {"md5": md5, "sha256": sha256},
        "category": "main",
        "optional": False,
    }


def conda_lines(platform: str) -> list[str]:
    """The explicit conda lines of one platform's lock (``url#sha256``, as envgen lock
    renders them)."""
    return [
        f"{entry['url']}#{entry['hash']['sha256']}"
        for entry in (
            _conda_entry(platform, line) for line in NOARCH + CONDA_LINES[platform]
        )
    ]


def pip_requirements(platform: str) -> list[str]:
    """What bootstrap.sh hands pip for one platform: ``name @ url --hash=sha256:…``."""
    return [
        f"{name} @ {PYPI}/{path} --hash=sha256:{digest}"
        for name, path, digest in PIP_WHEELS[platform]
    ]


def write_team_locks(project: Path, platforms: tuple[str, ...] = PLATFORMS) -> None:
    """conda-lock.yml and one conda-<platform>.lock per platform, rendered as envgen
    lock renders them."""
    import yaml

    from envgen.lock.integrity import header_lines, render_explicit

    entries = []
    for platform in platforms:
        entries += [
            _conda_entry(platform, line) for line in NOARCH + CONDA_LINES[platform]
        ]
        entries += [
            {
                "name": name,
                "version": path.rsplit("/", 1)[1].split("-")[1],
                "manager": "pip",
                "platform": platform,
                "dependencies": {},
                "url": f"{PYPI}/{path}",
                "hash": {"sha256": digest},
                "category": "main",
                "optional": False,
            }
            for name, path, digest in PIP_WHEELS[platform]
        ]
    inputs = {name: _sha(project / name) for name in ("envgen.toml", "environment.yml")}
    document = {
        "version": 1,
        "metadata": {
            "platforms": list(platforms),
            "custom_metadata": {
                "envgen_toml_sha256": inputs["envgen.toml"],
                "environment_yml_sha256": inputs["environment.yml"],
            },
        },
        "package": entries,
    }
    (project / "conda-lock.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    header = header_lines(_sha(project / "conda-lock.yml"), list(inputs.items()))
    for platform in platforms:
        (project / f"conda-{platform}.lock").write_text(
            render_explicit(document, platform, header)
        )
