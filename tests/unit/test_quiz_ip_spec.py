"""`ip` (iproute2) and `cat` answers are parsed by meaning: ip's options are bare keywords
(`dev tap0 mode tap`) after an object and a command (`link add`), in any order."""

from __future__ import annotations

import pytest

from kvmlab.quiz.check import check_command
from kvmlab.quiz.commands import CommandError, parse

TAP = ["ip tuntap add dev tap0 mode tap"]
MACVTAP = ["ip link add link eth0 name macvtap0 type macvtap mode bridge"]


@pytest.mark.parametrize(
    "answer",
    [
        "ip tuntap add dev tap0 mode tap",
        "ip tuntap add mode tap dev tap0",
        "ip tuntap add tap0 mode tap",
        "ip tuntap add name tap0 mode tap",
        "ip tuntap a tap0 mode tap",
        "ip tap add mode tap tap0",
        "sudo ip tuntap add dev tap0 mode tap",
        "/usr/sbin/ip tuntap add dev tap0 mode tap",
    ],
)
def test_tuntap_forms_are_the_same_answer(answer: str) -> None:
    assert check_command(TAP, answer).correct, check_command(TAP, answer).feedback


@pytest.mark.parametrize(
    "answer",
    [
        "ip link add link eth0 name macvtap0 type macvtap mode bridge",
        "ip link add macvtap0 link eth0 type macvtap mode bridge",
        "ip link add name macvtap0 link eth0 type macvtap mode bridge",
        "ip link add dev macvtap0 type macvtap mode bridge link eth0",
        "ip l a link eth0 macvtap0 type macvtap mode bridge",
    ],
)
def test_link_add_forms_are_the_same_answer(answer: str) -> None:
    assert check_command(MACVTAP, answer).correct, check_command(MACVTAP, answer).feedback


def test_a_tun_is_not_a_tap() -> None:
    verdict = check_command(TAP, "ip tuntap add dev tap0 mode tun")
    assert not verdict.correct
    assert verdict.feedback == ["mode: expected tap, got tun"]


@pytest.mark.parametrize("mode", ["vepa", "private", "passthru"])
def test_a_wrong_macvtap_mode_is_a_different_answer(mode: str) -> None:
    verdict = check_command(MACVTAP, f"ip link add link eth0 name macvtap0 type macvtap mode {mode}")
    assert not verdict.correct
    assert verdict.feedback == [f"mode: expected bridge, got {mode}"]


def test_no_mode_is_not_mode_bridge() -> None:
    """macvtap's default mode is vepa: leaving the mode out is not the bridge-mode answer."""
    verdict = check_command(MACVTAP, "ip link add link eth0 name macvtap0 type macvtap")
    assert not verdict.correct and verdict.missed == ["mode"]


def test_macvlan_is_not_macvtap() -> None:
    verdict = check_command(MACVTAP, "ip link add link eth0 name macvtap0 type macvlan mode bridge")
    assert not verdict.correct and verdict.feedback == ["type: expected macvtap, got macvlan"]


def test_the_object_and_command_are_the_subcommand() -> None:
    assert parse("ip l a tap0 type bridge").sub == "link add"
    assert parse("ip link del tap0").sub == "link delete"
    assert parse("ip link delete dev tap0").value("name") == ("tap0",)
    assert parse("ip link").sub == "link show"  # ip lists links when no command is given
    assert parse("ip link list").sub == "link show"
    verdict = check_command(["ip link delete dev macvtap0"], "ip tuntap del dev macvtap0 mode tap")
    assert not verdict.correct and "that is ip tuntap delete" in verdict.feedback[0]


def test_global_options_come_before_the_object() -> None:
    parsed = parse("ip -d link show dev tap0")
    assert parsed.sub == "link show" and parsed.flags == {"-d"} and parsed.value("name") == ("tap0",)
    assert parse("ip -details link show tap0") == parsed
    assert not check_command(["ip -d link show tap0"], "ip link show tap0").correct


def test_vlan_id_is_compared() -> None:
    vlan = ["ip link add link eth0 name eth0.100 type vlan id 100"]
    assert check_command(vlan, "ip link add eth0.100 link eth0 type vlan id 100").correct
    assert not check_command(vlan, "ip link add link eth0 name eth0.100 type vlan id 200").correct


def test_flags_are_bare_keywords() -> None:
    parsed = parse("ip tuntap add dev tap0 mode tap multi_queue vnet_hdr")
    assert parsed.flags == {"multi_queue", "vnet_hdr"}
    assert check_command(["ip tuntap add dev tap0 mode tap vnet_hdr multi_queue"], parsed.line).correct


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ip tuntap add dev tap0", "ip tuntap add needs mode"),
        ("ip link add link eth0 name mv0", "ip link add needs type"),
        ("ip link add link eth0 name mv0 type macvtap mode", "mode needs a value"),
        ("ip tuntap add dev tap0 mode tap queues 4", "unexpected argument 'queues'"),
        ("ip link set tap0 up", "ip link set is not a command kvmlab can check"),
        ("ip -z link show", "-z is not an option of ip link show"),
        ("ip", "ip needs a subcommand"),
    ],
)
def test_invalid_ip_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        parse(line)


def test_cat_reads_files_in_order() -> None:
    parsed = parse("cat /sys/module/kvm_intel/parameters/nested")
    assert parsed.tool == "cat" and parsed.sub is None
    assert parsed.value("positional") == ("/sys/module/kvm_intel/parameters/nested",)
    nested = ["cat /sys/module/kvm_intel/parameters/nested"]
    assert not check_command(nested, "cat /sys/module/kvm_amd/parameters/nested").correct
    assert check_command(nested, "sudo cat /sys/module/kvm_intel/parameters/nested").correct
