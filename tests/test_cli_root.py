"""The root command: help, version, exit-code mapping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli.app import run


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "inventory",
        "server",
        "lab",
        "parse",
        "push",
        "verify",
        "report",
        "schedule",
        "demo",
    ):
        assert command in out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["frobnicate"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("orch ")


def test_paramiko_session_close_noise_needs_vv(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from orchestrator.cli.app import _configure_logging

    noise = "Socket exception: Bad file descriptor (9)"
    try:
        for verbose in (0, 1):
            _configure_logging(verbose, no_color=True)
            logging.getLogger("paramiko.transport").error(noise)
            assert noise not in capsys.readouterr().err
        _configure_logging(2, no_color=True)
        logging.getLogger("paramiko.transport").error(noise)
        assert noise in capsys.readouterr().err
        # our own warnings still show by default
        _configure_logging(0, no_color=True)
        logging.getLogger("orchestrator.test").warning("keys file readable by every user")
        assert "keys file readable by every user" in capsys.readouterr().err
    finally:
        _configure_logging(0, no_color=True)


def test_unwritable_path_is_input_error_not_internal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path))
    # /proc refuses new files even for root
    code = run(["schedule", "install", "--unit-dir", "/proc/orch-no-such-dir"])
    err = capsys.readouterr().err
    assert code == 2
    assert "orch: error: /proc/orch-no-such-dir" in err
    assert "internal error" not in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_start_does_not_import_matplotlib() -> None:
    # Loaded for every command; matplotlib is for HTML reports only (slow to import,
    # and it warns on stderr when $HOME is not writable, e.g. `orch server run` as nobody).
    code = "import sys, orchestrator.cli.app; print('matplotlib' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize(
    "command",
    [["push"], ["verify"], ["report"], ["inventory", "show"], ["parse", "--platform", "linux"],
     ["lab", "status"]],
)  # fmt: skip
def test_every_format_option_takes_dash_f_after_the_command(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path))
    # `orch verify -f json` must work like `orch -f json verify` and `orch server status -f json`
    code = run([*command, "-f", "xml", *(["x.txt"] if command[0] == "parse" else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert "No such option" not in err and "'xml'" in err, err


@pytest.mark.parametrize(
    "command",
    [["inventory", "check"], ["push", "--dry-run"], ["verify"], ["verify", "--site", "x"]],
)
def test_an_inventory_without_hosts_says_so(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "hosts.yaml").write_text("# nothing yet\n")
    assert run(["--inventory", str(tmp_path), *command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"orch: error: {tmp_path / 'hosts.yaml'}: no hosts defined"), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "level"),
    [(["-vv", "push"], 2), (["-v", "-v", "push"], 2), (["--verbose", "--verbose"], 2),
     (["-v", "push"], 1), (["push", "--", "-vv"], 0), (["-vvx"], 0)],
)  # fmt: skip
def test_verbosity_counts_every_spelling(args: list[str], level: int) -> None:
    from orchestrator.cli.app import _verbosity

    assert _verbosity(args) == level


def test_an_unwritable_data_dir_points_at_orch_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path("/proc/orch-no-such-dir/data")  # cannot be created, even by root
    monkeypatch.setenv("ORCH_DATA_DIR", str(data))
    assert run(["lab", "up", "--devices", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch: error: /proc/orch-no-such-dir"), err
    assert "set ORCH_DATA_DIR to a writable directory" in err and len(err.splitlines()) == 1


def test_a_file_where_a_directory_is_needed_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    a_file = tmp_path / "units"
    a_file.write_text("not a directory\n")
    assert run(["schedule", "install", "--unit-dir", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err == f"orch: error: {a_file}: is a file, where a directory is needed\n"


@pytest.mark.parametrize("command", ["push", "verify"])
def test_no_match_repeats_the_filters_given(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = Path(__file__).resolve().parents[1] / "inventories" / "lab"
    argv = ["--inventory", str(lab), command, "--group", "ios", "--platform", "windows"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("orch: error: no hosts match --platform windows --group ios"), err


def _command_paths() -> list[list[str]]:
    import typer.main

    from orchestrator.cli.app import app

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize(
    "argv",
    [
        ["server", "run", "--port", "70000"],
        ["server", "run", "--workers", "0"],
        ["server", "install-unit", "--port", "0"],
        ["server", "run", "--reference", "moon"],
        ["lab", "up", "--devices", "0"],
        ["push", "--workers", "0"],
        ["verify", "--keep-days", "x"],
        ["parse", "--platform", "cisco_ios"],  # no FILES
        ["server", "run", "--nope"],
        ["frobnicate"],
    ],
)
def test_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("orch: error: "), captured.err
    assert "--help" in lines[0] and "╭" not in captured.err + captured.out


def test_every_help_has_examples_and_no_type_names(capsys: pytest.CaptureFixture[str]) -> None:
    for path in _command_paths():
        assert run([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        examples = out.split("Examples:", 1)[-1].split()
        assert "Examples:" in out and "orch" in examples, path
        assert not path or path[-1] in examples, path  # an example of this very command
        for type_name in ("<bool>", "<int", "<str>", "<list[", "<path>", "<float>", "<Path"):
            assert type_name not in out, (path, type_name, out)


def test_short_flags_mean_one_thing_everywhere() -> None:
    import typer.main

    from orchestrator.cli.app import app

    meaning: dict[str, set[str]] = {}

    def walk(command: typer.main.TyperGroup | object) -> None:
        for param in getattr(command, "params", []):
            shorts = [o for o in param.opts if len(o) == 2]
            longs = [o for o in param.opts if o.startswith("--")]
            for short in shorts:
                meaning.setdefault(short, set()).update(longs)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    # -w/-c are the monitoring plugins' thresholds (`orch check`), as every Nagios user
    # types them; --config and --workers have no short form.
    assert meaning["-p"] == {"--port"}
    assert meaning["-w"] == {"--warning"} and meaning["-c"] == {"--critical"}


def test_environment_variables_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in ("ORCH_DATA_DIR", "ORCH_INVENTORY", "ORCH_KEEP_DAYS", "ORCH_LAB_PASSWORD",
                 "NO_COLOR"):  # fmt: skip
        assert name in out and name in readme, name


def test_an_overlong_value_is_cut_in_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hosts.yaml").write_text(f"r1:\n  hostname: {'a' * 10_000_000}\n")
    (tmp_path / "defaults.yaml").write_text("username: u\nplatform: cisco_ios\n")
    assert run(["--inventory", str(tmp_path), "verify"]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1000 and "characters)" in err and "hosts.yaml:2" in err, err[:300]
