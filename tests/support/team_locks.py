"""Per-platform lock files for the team example (examples/specs/tf2.16-team.toml), written the way
`envgen lock` renders them (conda-lock.yml + conda-<platform>.lock under envgen's hash header lines).

The artifacts are real, trimmed to a few per platform (the bootstrap tests need each platform's own
lines, not a full environment):

- conda lines (``url#md5``): osx-arm64 records from ../shared/conda-forge-records (real conda-forge
  records); osx-64 and linux-64 lines as conda-forge published them, copied from explicit lock files
  that public repositories commit (robotframework-jupyterlibrary's .github/locks, 2023), and
  conda-forge's noarch tzdata and six.
- pip lines: the TensorFlow 2.16.2 / tensorflow-metal 1.1.0 wheels for Python 3.11 on each platform,
  file names and sha256 as PyPI's JSON API lists them (read 2026-11-23).
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

PLATFORMS = tuple(CONDA_LINES)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def conda_lines(platform: str) -> list[str]:
    """The explicit conda lines of one platform's lock."""
    return NOARCH + CONDA_LINES[platform]


def pip_requirements(platform: str) -> list[str]:
    """What bootstrap.sh hands pip for one platform: ``name @ url --hash=sha256:…``."""
    return [
        f"{name} @ {PYPI}/{path} --hash=sha256:{digest}"
        for name, path, digest in PIP_WHEELS[platform]
    ]


def write_team_locks(project: Path, platforms: tuple[str, ...] = PLATFORMS) -> None:
    """conda-lock.yml and one conda-<platform>.lock per platform, hashed against the project's inputs."""
    entries = []
    for platform in platforms:
        for line in conda_lines(platform):
            url = line.split("#")[0]
            name = url.rsplit("/", 1)[1].rsplit("-", 2)[0]
            entries.append(
                f"- name: {name}\n  manager: conda\n  platform: {platform}\n  url: {url}\n"
            )
        for name, path, digest in PIP_WHEELS[platform]:
            entries.append(
                f"- name: {name}\n  manager: pip\n  platform: {platform}\n"
                f"  url: {PYPI}/{path}\n  hash:\n    sha256: {digest}\n"
            )
    (project / "conda-lock.yml").write_text(
        "version: 1\nmetadata:\n  platforms: ["
        + ", ".join(platforms)
        + "]\npackage:\n"
        + "".join(entries)
    )
    for platform in platforms:
        header = [
            f"# envgen-lock-sha256: {_sha(project / 'conda-lock.yml')}",
            f"# envgen-input-sha256: envgen.toml {_sha(project / 'envgen.toml')}",
            f"# envgen-input-sha256: environment.yml {_sha(project / 'environment.yml')}",
            f"# platform: {platform}",
            "@EXPLICIT",
        ]
        pip = [
            f"# pip {name} @ {PYPI}/{path}#sha256={digest}"
            for name, path, digest in PIP_WHEELS[platform]
        ]
        (project / f"conda-{platform}.lock").write_text(
            "\n".join(header + conda_lines(platform) + pip) + "\n"
        )
