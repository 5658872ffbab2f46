"""The line-tracking YAML reader under the inventory validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InventoryError
from orchestrator.inventory.yamlfile import TaggedValue, load_yaml, parse_yaml


def test_lines_of_keys_and_items() -> None:
    doc = parse_yaml(
        "# comment\ncore1:\n  hostname: 192.0.2.1\n  groups:\n    - hq\n    - ios\n"
        "core2: {hostname: 192.0.2.2}\n",
        "hosts.yaml",
    )
    assert doc.data == {
        "core1": {"hostname": "192.0.2.1", "groups": ["hq", "ios"]},
        "core2": {"hostname": "192.0.2.2"},
    }
    assert doc.line_of(("core1",)) == 2
    assert doc.line_of(("core1", "hostname")) == 3
    assert doc.line_of(("core1", "groups", 1)) == 6
    assert doc.line_of(("core2", "hostname")) == 7
    # A path below a scalar (pydantic locations can be deeper) falls back to its parent.
    assert doc.where(("core1", "hostname", "str")) == "hosts.yaml:3"
    assert doc.line_of(("absent",)) == 1


def test_duplicate_keys_are_recorded_at_every_depth() -> None:
    doc = parse_yaml("a:\n  x: 1\n  x: 2\nb: 1\na: 3\n", "f.yaml")
    found = {(d.parent, d.key, d.line, d.first_line) for d in doc.duplicates}
    assert found == {(("a",), "x", 3, 2), ((), "a", 5, 1)}
    assert doc.data == {"a": {"x": 1}, "b": 1}  # the first definition is kept


def test_merge_keys_are_not_duplicates() -> None:
    doc = parse_yaml(
        "base: &base\n  port: 22\n  username: netops\ncore1:\n  <<: *base\n  port: 2222\n",
        "hosts.yaml",
    )
    assert doc.duplicates == ()
    assert doc.data["core1"] == {"port": 2222, "username": "netops"}
    assert doc.line_of(("core1", "port")) == 6


def test_application_tags_become_tagged_values() -> None:
    doc = parse_yaml("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", "f.yaml")
    value = doc.data["pw"]
    assert isinstance(value, TaggedValue) and value.tag == "!vault"
    assert "ANSIBLE_VAULT" not in repr(value)


def test_syntax_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("core1:\n  hostname: 192.0.2.1\n\tport: 22\n")
    with pytest.raises(InventoryError) as raised:
        load_yaml(path)
    assert str(raised.value).startswith(f"{path}:3:1: YAML syntax error:")


def test_control_characters_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("core1:\n  hostname: 192.0.2.1\n  plat\x00form: cisco_ios\n")
    with pytest.raises(InventoryError) as raised:
        load_yaml(path)
    assert str(raised.value) == (
        f"{path}:3:7: YAML syntax error: control character U+0000 is not allowed in YAML "
        "(remove it)"
    )


def test_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_bytes(b"core1:\n  hostname: \xff\xfe\n")
    with pytest.raises(InventoryError, match="not UTF-8"):
        load_yaml(path)
    with pytest.raises(InventoryError, match="a key must be plain text"):
        parse_yaml("? [a, b]\n: 1\n", "f.yaml")


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join(f"*a{i - 1}" for _ in range(10))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_in_one_line_without_expanding(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(_laughs(9))  # 10**9 values from a 700-byte file
    with pytest.raises(InventoryError) as caught:
        load_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:") and "aliases expand to more than 100000" in message
    assert "\n" not in message
    # a few aliases, as real inventories use them, are fine
    assert load_yaml(_write(tmp_path / "ok.yaml", _laughs(3))).data["a2"][0][0] == ["lol"] * 10


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", ["[" * 20_000 + "]" * 20_000, "a: " + "[" * 150 + "]" * 150])
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "groups.yaml", text + "\n")
    with pytest.raises(InventoryError) as caught:
        load_yaml(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "nested more than 100 levels" in message
    assert "\n" not in message


def test_the_cli_reports_a_billion_laughs_inventory_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.cli.app import run

    inventory = tmp_path / "inv"
    inventory.mkdir()
    _write(inventory / "hosts.yaml", _laughs(9))
    assert run(["inventory", "check", str(inventory)]) == 2
    err = capsys.readouterr().err.strip()
    assert "aliases expand" in err and len(err.splitlines()) == 1, err
