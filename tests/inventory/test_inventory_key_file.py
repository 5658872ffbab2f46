"""data.ssh_key_file: `${env:NAME:-default}` substituted, then `~`, then relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory, packaged_lab_inventory
from orchestrator.inventory.secrets import SecretProblem, substitute_env
from tests.inventory.conftest import WriteInventory

LAB_KEY = "lab/linux/keys/lab_user_ed25519"


def _with_key(write_inventory: WriteInventory, key_file: str) -> Path:
    return write_inventory(
        hosts=f"core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n  data:\n"
        f"    ssh_key_file: {key_file}\n"
    )


@pytest.mark.parametrize("directory", ["inventories/lab", "packaged"])
def test_lab_key_follows_orch_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: str
) -> None:
    lab = packaged_lab_inventory() if directory == "packaged" else Path(directory)
    if not lab.is_dir():
        pytest.skip(f"{lab} is not in this checkout")
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    keys = {h.ssh_key_file for h in load_inventory(lab).hosts if h.platform == "linux"}
    assert keys == {str(tmp_path / "data" / LAB_KEY)}
    for unset in ("", None):  # empty counts as unset, like paths.data_dir()
        if unset is None:
            monkeypatch.delenv("ORCH_DATA_DIR")
        else:
            monkeypatch.setenv("ORCH_DATA_DIR", unset)
        keys = {h.ssh_key_file for h in load_inventory(lab).hosts if h.platform == "linux"}
        assert keys == {str(Path("~/.local/share/orch").expanduser() / LAB_KEY)}


def test_home_is_expanded_after_substitution(
    write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_TEST_KEY_DIR", "~/keys")
    directory = _with_key(write_inventory, "${env:ORCH_TEST_KEY_DIR}/id_ed25519")
    key = load_inventory(directory).host("core1").ssh_key_file
    assert key == str(Path.home() / "keys" / "id_ed25519")
    relative = _with_key(write_inventory, "${env:ORCH_TEST_UNSET_KEY_DIR:-keys}/id")
    assert load_inventory(relative).host("core1").ssh_key_file == str(relative / "keys" / "id")


def test_missing_variable_names_it_the_host_and_the_line(
    write_inventory: WriteInventory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ORCH_TEST_NO_SUCH_DIR", raising=False)
    directory = _with_key(write_inventory, "${env:ORCH_TEST_NO_SUCH_DIR}/id_ed25519")
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    message = str(raised.value)
    assert message.startswith(f"{directory / 'hosts.yaml'}:5: ")
    assert "core1" in message and "data.ssh_key_file" in message
    assert "environment variable ORCH_TEST_NO_SUCH_DIR is not set" in message
    assert run(["inventory", "check", "--resolve-secrets", str(directory)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "ORCH_TEST_NO_SUCH_DIR" in err
    assert "Traceback" not in err
    # Without resolving, the form is checked and the reference is kept as written.
    host = load_inventory(directory, resolve_secrets=False).host("core1")
    assert host.ssh_key_file == "${env:ORCH_TEST_NO_SUCH_DIR}/id_ed25519"


def test_substitute_env_forms() -> None:
    env = {"A": "/a", "EMPTY": ""}
    assert substitute_env("${env:A}/k", environ=env) == "/a/k"
    assert substitute_env("${env:EMPTY:-/d}/k", environ=env) == "/d/k"
    assert substitute_env("/plain/k", environ=env) == "/plain/k"
    with pytest.raises(SecretProblem, match="B is not set"):
        substitute_env("${env:B}/k", environ=env)
    with pytest.raises(SecretProblem, match="only"):
        substitute_env("${keyring:svc/user}/k", environ=env)
    with pytest.raises(SecretProblem, match="malformed"):
        substitute_env("${env:A/k", environ=env)


def test_check_notes_an_unset_variable_in_the_key_path(
    write_inventory: WriteInventory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ORCH_TEST_NO_SUCH_DIR", raising=False)
    monkeypatch.setenv("ORCH_TEST_EMPTY_DIR", "")  # empty counts as unset in a path
    directory = _with_key(
        write_inventory, "${env:ORCH_TEST_NO_SUCH_DIR}/${env:ORCH_TEST_EMPTY_DIR}/id"
    )
    assert run(["inventory", "check", str(directory)]) == 0
    err = capsys.readouterr().err
    assert "note: ORCH_TEST_EMPTY_DIR, ORCH_TEST_NO_SUCH_DIR not set" in err
    # a default, or a set variable, needs nothing
    monkeypatch.setenv("ORCH_TEST_NO_SUCH_DIR", "/keys")
    monkeypatch.setenv("ORCH_TEST_EMPTY_DIR", "sub")
    assert run(["inventory", "check", str(directory)]) == 0
    assert "not set" not in capsys.readouterr().err


def test_home_of_an_unknown_user_is_an_input_error(write_inventory: WriteInventory) -> None:
    directory = _with_key(write_inventory, "~no-such-user-orch/.ssh/id")
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    message = str(raised.value)
    assert message.startswith(f"{directory / 'hosts.yaml'}:5: ")
    assert "'~no-such-user-orch': no such user's home directory" in message
