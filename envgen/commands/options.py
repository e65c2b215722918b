"""The options several commands share, each defined once: same flag, same metavar, same
words.

Use them as annotations: ``as_json: options.Json = False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--dir",
        metavar="DIR",
        show_default=False,
        help="The project directory (default: the working directory).",
    ),
]
FoundProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="DIR",
        help="An envgen project (default: the working directory, if it is one).",
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one machine-readable JSON document on stdout, nothing else.",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing on success (errors still go to stderr)."
    ),
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show the details a summary leaves out."),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Overwrite managed files even if they were edited by hand."
    ),
]
Channel = Annotated[
    str | None,
    typer.Option(
        "--channel",
        metavar="URL",
        help=(
            "Lock against this conda-forge mirror or file:// copy (default: what the"
            " lock was made against, else conda-forge; 'conda-forge' goes back)."
        ),
    ),
]
PypiIndex = Annotated[
    str | None,
    typer.Option(
        "--pypi-index",
        metavar="URL",
        help="Simple index for the lock's pip side (default: https://pypi.org/simple).",
    ),
]
Solver = Annotated[
    str,
    typer.Option(
        "--solver",
        metavar="NAME",
        help=(
            "Conda solver: auto (micromamba, mamba or conda if installed, else the"
            " built-in rattler one), micromamba, mamba, conda or rattler."
        ),
    ),
]
NoLock = Annotated[
    bool,
    typer.Option("--no-lock", help="Only write the files; run `envgen lock` later."),
]
Offline = Annotated[
    bool,
    typer.Option("--offline", help="Answer from the cached PyPI answers only."),
]
KeepMirrorUrls = Annotated[
    bool | None,
    typer.Option(
        "--keep-mirror-urls/--canonical-urls",
        help=(
            "Keep --channel/--pypi-index URLs in the lock (default: conda-forge's and"
            " PyPI's for the same files; a re-lock keeps the last choice)."
        ),
    ),
]
