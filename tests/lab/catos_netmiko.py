"""A small netmiko driver class for CatOS, as the tests need one (netmiko has none).

The product's driver lives in orchestrator/drivers/session.py; this one only proves the
simulated CatOS switch works with netmiko's stock machinery (prompt detection, enable,
paging off, send_command).
"""

from __future__ import annotations

from typing import Any

from netmiko.cisco_base_connection import CiscoBaseConnection


class CatosSSH(CiscoBaseConnection):
    """`host> ` / `host> (enable) ` prompts, `set length 0`, no configuration mode."""

    def session_preparation(self) -> None:
        self._test_channel_read(pattern=r">")
        self.set_base_prompt()
        self.disable_paging(command="set length 0")

    def set_base_prompt(self, *args: Any, **kwargs: Any) -> str:
        prompt = self.find_prompt()
        self.base_prompt = prompt.split(">")[0]
        return self.base_prompt

    def check_enable_mode(self, check_string: str = "(enable)") -> bool:
        return super().check_enable_mode(check_string=check_string)

    def exit_enable_mode(self, exit_command: str = "disable") -> str:
        return super().exit_enable_mode(exit_command=exit_command)

    def check_config_mode(self, *args: Any, **kwargs: Any) -> bool:
        return False  # CatOS configures with `set` commands at the enable prompt

    def config_mode(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def exit_config_mode(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def save_config(self, *args: Any, **kwargs: Any) -> str:
        return ""  # CatOS writes `set` commands to NVRAM as they are entered
