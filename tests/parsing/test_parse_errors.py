"""parse_output's contract for bad input: ParseError naming platform, command and line."""

from __future__ import annotations

import pytest

from orchestrator.errors import InputError, ParseError
from orchestrator.parsing import guess_command, parse_output
from orchestrator.parsing.registry import normaliser_for
from parsing.captures import IOS_IPV6, IOS_STATUS, NXOS_PEER_STATUS, capture


def test_unknown_line_names_platform_command_and_line() -> None:
    lines = capture(IOS_IPV6).splitlines()
    # A real capture with one line no IOS prints, inserted as line 3.
    lines.insert(2, "%NTP: this line is not part of any IOS output")
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_ios", "show ntp associations", "\n".join(lines))
    err = caught.value
    assert (err.platform, err.command, err.line) == ("cisco_ios", "show ntp associations", 3)
    assert "line 3" in str(err) and "cisco_ios" in str(err)
    assert "\n" not in str(err)
    assert isinstance(err, InputError)  # the CLI maps it to exit 2


def test_a_row_is_never_dropped_a_malformed_row_fails() -> None:
    # The second row of a real capture with its reach column corrupted to non-octal.
    text = capture(IOS_IPV6).replace(
        "+~2001:DB8::EEE7  2001:DB8::EEE7   2    358    512   377",
        "+~2001:DB8::EEE7  2001:DB8::EEE7   2    358    512   389",
    )
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_xe", "show ntp associations", text)
    assert caught.value.line == 3


def test_normaliser_error_is_reported_with_the_input_line() -> None:
    # 777 is octal-shaped (the template accepts it) but larger than the 8-bit register.
    text = capture(IOS_IPV6).replace("512   377  1.955", "512   777  1.955")
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_xe", "show ntp associations", text)
    assert caught.value.line == 3
    assert "reach" in str(caught.value)


@pytest.mark.parametrize("text", ["", "   \n\n  \t\n"])
def test_empty_output_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_output("cisco_ios", "show ntp status", text)
    with pytest.raises(ParseError, match="empty"):
        parse_output("cisco_ios", None, text)


def test_other_commands_output_is_rejected_not_misread() -> None:
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_ios", "show ntp associations", capture(IOS_STATUS))
    assert caught.value.line == 1


def test_other_platforms_output_matches_no_command() -> None:
    with pytest.raises(ParseError, match="none of the known commands"):
        guess_command("cisco_ios", capture(NXOS_PEER_STATUS))


def test_unknown_platform_and_command_list_what_is_known() -> None:
    with pytest.raises(ParseError, match=r"known platforms: .*cisco_ios"):
        parse_output("juniper_junos", "show ntp associations", "x")
    for text in ("x", ""):  # the platform is named before the output is judged
        with pytest.raises(ParseError, match=r"no parsers for platform 'juniper_junos'"):
            parse_output("juniper_junos", None, text)
    with pytest.raises(ParseError, match=r"known commands: .*'show ntp status'"):
        parse_output("cisco_ios", "show clock", "x")


def test_template_without_normaliser_is_refused() -> None:
    with pytest.raises(ParseError, match="no normaliser"):
        normaliser_for("cisco_ios_show_clock")


def test_a_rejected_line_that_may_hold_a_key_is_not_quoted() -> None:
    # An authentication-key line with a token IOS never prints after the encryption type.
    secret = "15435A030726242723273C21181319000A"
    text = f"ntp authentication-key 10 md5 {secret} 7 trailing-junk\nntp authenticate\n"
    with pytest.raises(ParseError) as caught:
        parse_output("cisco_ios", "show running-config | include ntp", text)
    assert caught.value.line == 1
    assert secret not in str(caught.value)


def test_chronyc_sources_with_no_sources_is_an_empty_table_not_an_error() -> None:
    # chronyc 4.3 (Debian 12) of a chronyd with no sources: the header alone, captured
    # from a real chronyd in orch's lab (sshd + chronyd -x) before the first push.
    header_only = (
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n"
        "===============================================================================\n"
    )
    parsed = parse_output("linux", "chronyc -n sources", header_only)
    assert parsed.associations == ()
    assert parse_output("linux", None, header_only).command == "chronyc -n sources"


def test_trusted_key_ranges_are_bounded() -> None:
    every = parse_output(
        "cisco_ios", "show running-config | include ntp", "ntp trusted-key 1 - 65535\n"
    )
    assert every.config is not None and len(every.config.trusted_keys) == 65535
    for bad in ("ntp trusted-key 1 - 4294967295\n", "ntp trusted-key 9 - 3\n"):
        with pytest.raises(ParseError, match=r"line 1: trusted-key range .* orch handles"):
            parse_output("cisco_ios", "show running-config | include ntp", bad)


def test_a_value_that_is_not_a_number_is_a_parse_error_with_its_line() -> None:
    text = (
        "Clock is synchronized, stratum 4, reference is 10.20.0.4\n"
        "nominal freq is 1000.0003 Hz, actual freq is 999.8791 Hz, precision is 2**16\n"
        "reference time is D5E492E9.98ABB3D3 (09:14:49.596 UTC Thu Sep 7 2017)\n"
        "clock offset is 0.0000 msec, root delay is 2..7 msec\n"
        "root dispersion is 2.71 msec, peer dispersion is 1.90 msec\n"
    )
    with pytest.raises(ParseError, match=r"root delay '2\.\.7' is not a number"):
        parse_output("cisco_ios", "show ntp status", text)
    with pytest.raises(ParseError, match="none of the known commands"):
        parse_output("cisco_ios", None, text)  # guessing does not crash on it either


def test_a_chrony_poll_beyond_any_real_interval_is_refused() -> None:
    text = (
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample\n"
        "===============================================================================\n"
        "^* 192.0.2.1        2  100000000000000000000   377    10   -1us[-1us] +/- 1ms\n"
    )
    with pytest.raises(ParseError, match=r"line 3: poll '1000.*' is not a log2 poll interval"):
        parse_output("linux", "chronyc sources", text)
