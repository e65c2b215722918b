from envgen import __version__
from envgen.cli import run


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"envgen {__version__}"


def test_unknown_command_is_one_line_exit_2(capsys):
    assert run(["bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "envgen: error: No such command 'bogus'. (hint: see 'envgen --help')"
    ]


def test_ctrl_c_says_interrupted_and_exits_130(tmp_path):
    """A real SIGINT during a command (here doctor waiting on a probe that hangs)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    started = tmp_path / "probe-started"
    fake_python = tmp_path / "python3"
    fake_python.write_text(f"#!/bin/sh\ntouch '{started}'\nexec sleep 60\n")
    fake_python.chmod(0o755)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envgen",
            "doctor",
            "--python",
            str(fake_python),
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 30
    while (
        not started.exists() and time.monotonic() < deadline and process.poll() is None
    ):
        time.sleep(0.05)
    assert started.exists(), f"the probe never started: {process.communicate()}"
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "envgen: interrupted"
    assert "Traceback" not in err


def test_only_the_invoked_command_module_is_loaded():
    from envgen.cli import COMMANDS, modules_for

    assert modules_for(["lock", "--check"]) == ("lock",)
    assert modules_for(["catalog", "refresh", "--json"]) == ("refresh", "check_pair")
    assert modules_for(["--help"]) == COMMANDS
    assert (
        modules_for(["no-such-command"]) == COMMANDS
    )  # so the error can list the real ones


def test_every_command_has_help_and_the_listing_names_them_all(capsys):
    from envgen.cli import COMMANDS

    for argv in (
        ["--help"],
        ["catalog", "--help"],
        *(
            [name, "--help"]
            for name in COMMANDS
            if name not in ("refresh", "check_pair")
        ),
    ):
        assert run(list(argv)) == 0, argv
    out = capsys.readouterr().out
    for word in (
        "new",
        "generate",
        "matrix",
        "doctor",
        "verify",
        "update",
        "lock",
        "refresh",
        "check-pair",
    ):
        assert word in out
