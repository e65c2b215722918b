from envgen import __version__
from envgen.cli import run


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"envgen {__version__}"


def test_unknown_command_is_one_line_exit_2(capsys):
    assert run(["bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["envgen: error: No such command 'bogus'. (hint: see 'envgen --help')"]
