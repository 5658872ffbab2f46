"""Secrets by reference, and no secret value in `inventory show`, logs or error messages."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from orchestrator.cli.app import run
from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.secrets import SecretProblem, make_secret, parse_reference
from tests.inventory.conftest import VALID_GROUPS, WriteInventory

ENV_SECRET = "Env-Pa55word-7f3a"
LITERAL = "Literal-Hunter2-c81d"
KEY_SECRET = "NtpKey-Secret-99ab"
ENABLE = "Enable-Secret-41e0"
SECRETS = (ENV_SECRET, LITERAL, KEY_SECRET, ENABLE)

DEFAULTS = f"""\
username: netops
password: ${{env:ORCH_TEST_SECRET_PASSWORD}}
data:
  enable_secret: {ENABLE}
  sites:
    hq: {{networks: [192.0.2.0/24]}}
  ntp:
    authenticate: true
    servers: [{{address: 192.0.2.10, key: 5}}]
    keys:
      - {{id: 5, type: aes128, secret: "${{env:ORCH_TEST_NTP_KEY:-{KEY_SECRET}}}"}}
"""

HOSTS = f"""\
core1:
  hostname: 192.0.2.1
  groups: [hq, ios]
core2:
  hostname: 192.0.2.2
  password: {LITERAL}
  groups: [hq, ios]
"""


@pytest.fixture
def secret_inventory(write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORCH_TEST_SECRET_PASSWORD", ENV_SECRET)
    monkeypatch.delenv("ORCH_TEST_NTP_KEY", raising=False)
    return write_inventory(hosts=HOSTS, defaults=DEFAULTS)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_references_resolve_into_masked_secrets(secret_inventory: Path) -> None:
    inventory = load_inventory(secret_inventory)
    core1, core2 = inventory.hosts
    assert core1.password is not None and core1.password.reveal() == ENV_SECRET
    assert core1.password.source == "${env:ORCH_TEST_SECRET_PASSWORD}"
    assert core2.password is not None and core2.password.reveal() == LITERAL
    key = core1.desired.keys[0]
    assert key.secret.reveal() == KEY_SECRET  # the default, since the variable is unset
    assert key.secret.source == "${env:ORCH_TEST_NTP_KEY:-…}"  # the default is not shown
    assert core1.enable_secret is not None and core1.enable_secret.reveal() == ENABLE
    _assert_no_secret(repr(inventory) + str(inventory.hosts) + f"{core1}")


def test_unresolved_load_holds_no_values(secret_inventory: Path) -> None:
    inventory = load_inventory(secret_inventory, resolve_secrets=False)
    core1 = inventory.host("core1")
    assert core1.password is not None and core1.password.reveal() == ""
    assert core1.password.source == "${env:ORCH_TEST_SECRET_PASSWORD}"


@pytest.mark.parametrize(
    "argv",
    [
        ["inventory", "show"],
        ["inventory", "show", "--format", "json"],
        ["--format", "json", "inventory", "show", "--host", "core2"],
        ["inventory", "check", "--resolve-secrets"],
    ],
    ids=["table", "json", "global-json", "check"],
)
def test_no_secret_in_cli_output_or_debug_logs(
    secret_inventory: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["-vv", "--inventory", str(secret_inventory), *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "core2" in captured.out or "OK" in captured.out
    _assert_no_secret(captured.out + captured.err)
    if "show" in argv:
        assert "********" in captured.out


def test_no_secret_in_logs_of_the_loader(
    secret_inventory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        load_inventory(secret_inventory)
    assert caplog.records  # the loader does log at debug level
    _assert_no_secret(caplog.text)


@pytest.mark.parametrize(
    ("hosts_extra", "expect"),
    [
        (f"  password: {{value: {LITERAL}}}\n", "password: expected text"),
        (f"  password: [{LITERAL}]\n", "password: expected text"),
        (f"  password: ${{env:BAD-NAME:-{LITERAL}}}\n", "not a valid environment variable"),
        (f"  password: ${{vault:{LITERAL}}}\n", "unknown secret scheme 'vault'"),
        (f"  password: {LITERAL}\n  platform: ios\n", "platform 'ios' unknown"),
        (f"  password: {LITERAL}\n  password: {LITERAL}\n", "duplicate key 'password'"),
        (f'  password: "{LITERAL}\n', "YAML syntax error"),
        (f"  data:\n    enable_secret: {{x: {ENABLE}}}\n", "enable_secret: expected text"),
        (f"  connection_options:\n    netmiko: {{password: [{LITERAL}]}}\n", "expected text"),
        (
            f"  data:\n    ntp:\n      keys: [{{id: 1, type: md5, secret: [{KEY_SECRET}]}}]\n",
            "secret: expected text",
        ),
    ],
    ids=[
        "mapping",
        "list",
        "bad-reference-default",
        "unknown-scheme",
        "other-error",
        "duplicate",
        "yaml-syntax",
        "enable-secret",
        "connection-options",
        "ntp-key",
    ],
)
def test_no_secret_in_error_messages(
    write_inventory: WriteInventory,
    hosts_extra: str,
    expect: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = write_inventory(
        hosts="core1:\n  hostname: 192.0.2.1\n  groups: [hq, ios]\n" + hosts_extra,
        groups=VALID_GROUPS,
    )
    with pytest.raises(InventoryError) as raised:
        load_inventory(directory)
    assert expect in str(raised.value)
    _assert_no_secret(str(raised.value))
    assert run(["inventory", "check", "--resolve-secrets", str(directory)]) == 2
    captured = capsys.readouterr()
    _assert_no_secret(captured.out + captured.err)


def test_reference_forms() -> None:
    assert parse_reference("plain") is None
    env = parse_reference("${env:ORCH_X:-fallback}")
    assert env is not None and (env.scheme, env.name, env.default) == ("env", "ORCH_X", "fallback")
    assert env.shown == "${env:ORCH_X:-…}"
    assert make_secret("${env:ORCH_X}", resolve=True, environ={"ORCH_X": "v"}).reveal() == "v"
    assert make_secret("${env:ORCH_X:-}", resolve=True, environ={}).reveal() == ""
    with pytest.raises(SecretProblem, match="ORCH_X is not set"):
        make_secret("${env:ORCH_X}", resolve=True, environ={})
    for malformed in ("${env:X", "pre${env:X}", "${keyring:nouser}", "${env:1X}"):
        with pytest.raises(SecretProblem):
            parse_reference(malformed)


def test_keyring_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the optional package: a clear message, not an ImportError.
    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(SecretProblem, match="needs the keyring package"):
        make_secret("${keyring:orch/netops}", resolve=True)
    # With a keyring backend (a stand-in module exposing keyring's get_password API).
    stored = {("orch", "netops"): "from-keyring"}
    backend = types.ModuleType("keyring")
    backend.get_password = lambda service, user: stored.get((service, user))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", backend)
    secret = make_secret("${keyring:orch/netops}", resolve=True)
    assert secret.reveal() == "from-keyring" and secret.source == "${keyring:orch/netops}"
    with pytest.raises(SecretProblem, match="no password for"):
        make_secret("${keyring:orch/other}", resolve=True)
