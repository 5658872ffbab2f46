"""Windows and CatOS plans, pure (outputs as the lab devices and real hosts print them)."""

from __future__ import annotations

from orchestrator.drivers.base import Backup
from orchestrator.drivers.cisco_catos import CiscoCatosDriver, ntp_lines
from orchestrator.drivers.windows import QUERY_CONFIGURATION, WindowsDriver, config_values
from orchestrator.models import DesiredNtp, NtpKey, NtpServerSpec, Secret

WIN = WindowsDriver()
CAT = CiscoCatosDriver()

# `w32tm /query /configuration` (Windows Server 2022, trimmed to the [TimeProviders] part
# orch reads; values end in "(Local)" or "(Policy)").
W32_LOCAL = """[TimeProviders]

NtpClient (Local)
DllName: C:\\Windows\\system32\\w32time.dll (Local)
Enabled: 1 (Local)
InputProvider: 1 (Local)
Type: NT5DS (Local)
NtpServer: time.windows.com,0x9 (Local)
"""


def _win_backup(text: str) -> Backup:
    values = config_values(text)
    state = tuple((f"state:{k}", v) for k, (v, _) in sorted(values.items()))
    return Backup("w1", "windows", extra=(*state, (QUERY_CONFIGURATION, text)))


def _win_plan(text: str, desired: DesiredNtp):  # type: ignore[no-untyped-def]
    b = _win_backup(text)
    return WIN.render(desired, WIN.current(b), b)


def test_windows_config_command_and_resync() -> None:
    desired = DesiredNtp((NtpServerSpec("127.0.0.10"), NtpServerSpec("127.0.0.11")))
    plan = _win_plan(W32_LOCAL, desired)
    assert plan.commands == (
        'w32tm /config /manualpeerlist:"127.0.0.10,0x8 127.0.0.11,0x8" '
        "/syncfromflags:manual /update",
    )
    assert plan.post_commands == ("w32tm /resync",)
    assert not any("/reliable" in c for c in plan.commands + plan.post_commands)
    assert "-Type: NT5DS" in plan.diff and "+Type: NTP" in plan.diff


def test_windows_compliant_is_noop() -> None:
    text = W32_LOCAL.replace("NT5DS", "NTP").replace("time.windows.com,0x9", "127.0.0.10,0x8")
    assert _win_plan(text, DesiredNtp((NtpServerSpec("127.0.0.10"),))).is_noop


def test_windows_group_policy_blocks() -> None:
    text = W32_LOCAL.replace("(Local)\nNtpServer", "(Policy)\nNtpServer").replace(
        "0x9 (Local)", "0x9 (Policy)"
    )
    plan = _win_plan(text, DesiredNtp((NtpServerSpec("127.0.0.10"),)))
    assert plan.blocked and "group policy" in plan.blocked
    assert plan.is_noop  # nothing is sent


def test_windows_restore_puts_back_type_and_peers() -> None:
    from orchestrator.drivers.base import CommandResult
    from orchestrator.models import Host

    sent: list[str] = []

    class Recorder:
        host = Host("w1", "h", "windows", 22, "u", None, "s", (), DesiredNtp(()))

        def configure(self, lines: list[str]) -> str:
            sent.extend(lines)
            return ""

        def run(self, command: str, **kw: object) -> CommandResult:
            raise AssertionError("restore only configures")

    WIN.restore(Recorder(), _win_backup(W32_LOCAL))  # type: ignore[arg-type]
    assert sent == [
        'w32tm /config /manualpeerlist:"time.windows.com,0x9" /syncfromflags:domhier /update'
    ]


# The `set ntp` part of CatOS `show config` (format as ZipTie's CatOS adapter reads it).
CATOS_CONFIG = """begin
!
#ntp
set ntp client enable
set ntp key 5 trusted md5-encrypted 060c0e2c495d
set ntp server 10.9.9.9
set ntp server 127.0.0.10 key 5
!
end
"""


def _cat_plan(desired: DesiredNtp):  # type: ignore[no-untyped-def]
    b = Backup("c1", "cisco_catos", ntp_lines(CATOS_CONFIG))
    return CAT.render(desired, CAT.current(b), b)


def test_catos_adds_removes_and_enables() -> None:
    # The key shown is 060c0e2c495d, type 7 of "james": the same value, nothing to do.
    desired = DesiredNtp(
        (NtpServerSpec("127.0.0.10", key_id=5), NtpServerSpec("127.0.0.11")),
        keys=(NtpKey(5, "md5", Secret("james")),),
        authenticate=True,
    )
    plan = _cat_plan(desired)
    assert plan.commands == (
        "set ntp server 127.0.0.11",
        "set ntp authentication enable",
        "clear ntp server 10.9.9.9",
    )
    assert "james" not in plan.diff and not plan.warnings


def test_catos_key_rotation_same_number_new_value_is_a_change_with_a_warning() -> None:
    desired = DesiredNtp(
        (NtpServerSpec("127.0.0.10", key_id=5), NtpServerSpec("10.9.9.9")),
        keys=(NtpKey(5, "md5", Secret("s3cr3t")),),
    )
    plan = _cat_plan(desired)
    assert plan.commands == ("set ntp key 5 trusted md5 s3cr3t",)
    assert plan.unverifiable == ()
    assert any("NTP key 5 gets a new value" in w for w in plan.warnings)
    assert "s3cr3t" not in plan.diff + " ".join(plan.warnings)


def test_catos_key_whose_value_is_not_shown_is_set_again_and_says_so() -> None:
    lines = ("set ntp client enable", "set ntp key 5 trusted md5 -", "set ntp server 10.9.9.9")
    b = Backup("c1", "cisco_catos", lines)
    desired = DesiredNtp((NtpServerSpec("10.9.9.9"),), keys=(NtpKey(5, "md5", Secret("pw")),))
    plan = CAT.render(desired, CAT.current(b), b)
    assert plan.commands == ("set ntp key 5 trusted md5 pw",)
    assert plan.unverifiable == plan.commands
    assert any("does not show the value of NTP key 5" in w for w in plan.warnings)


def test_catos_new_key_and_client_mode() -> None:
    b = Backup("c1", "cisco_catos", ())
    desired = DesiredNtp(
        (NtpServerSpec("127.0.0.10", key_id=7),), keys=(NtpKey(7, "md5", Secret("pw7")),)
    )
    plan = CAT.render(desired, CAT.current(b), b)
    assert plan.commands == (
        "set ntp key 7 trusted md5 pw7",
        "set ntp server 127.0.0.10 key 7",
        "set ntp client enable",
    )
    assert "pw7" not in plan.diff and "set ntp key 7 trusted md5 ********" in plan.diff


def test_catos_unwanted_key_is_reported_not_cleared() -> None:
    plan = _cat_plan(DesiredNtp((NtpServerSpec("127.0.0.10", key_id=5),)))
    assert not any(c.startswith("clear ntp key") for c in plan.commands)
    assert any("NTP key 5" in w for w in plan.warnings)
