"""virt-diff, virt-copy-in, virt-copy-out and guestfish's short flags, parsed by meaning."""

from __future__ import annotations

import pytest

from kvmlab.quiz.check import check_command
from kvmlab.quiz.commands import CommandError, parse

DIFF = ["virt-diff -a /var/lib/libvirt/images/centos-base.qcow2 -A /var/lib/libvirt/images/web01.qcow2"]
COPY_OUT = ["virt-copy-out -a /var/lib/libvirt/images/centos.qcow2 /etc/hostname /etc/fstab /tmp"]
GUESTFISH = ["guestfish --ro -a /var/lib/libvirt/images/centos.qcow2 -i cat /etc/fstab"]


@pytest.mark.parametrize(
    "answer",
    [
        "virt-diff -a /var/lib/libvirt/images/centos-base.qcow2 -A /var/lib/libvirt/images/web01.qcow2",
        "virt-diff -A /var/lib/libvirt/images/web01.qcow2 -a /var/lib/libvirt/images/centos-base.qcow2",
        "virt-diff --add /var/lib/libvirt/images/centos-base.qcow2 -A /var/lib/libvirt/images/web01.qcow2",
        "virt-diff --add=/var/lib/libvirt/images/centos-base.qcow2 -A /var/lib/libvirt/images/web01.qcow2",
    ],
)
def test_virt_diff_options_in_any_order_and_spelling(answer: str) -> None:
    assert check_command(DIFF, answer).correct


def test_virt_diff_with_the_guests_swapped_is_wrong() -> None:
    # -a is the first guest (the template), -A the second: swapped, + and - swap too.
    verdict = check_command(
        DIFF, "virt-diff -a /var/lib/libvirt/images/web01.qcow2 -A /var/lib/libvirt/images/centos-base.qcow2"
    )
    assert not verdict.correct


def test_virt_diff_takes_domains_and_its_own_flags() -> None:
    parsed = parse("virt-diff -d centos-base -D web01 --checksum --times -h")
    assert parsed.value("-d") == ("centos-base",) and parsed.value("-D") == ("web01",)
    assert parsed.flags == {"--checksum", "--times", "-h"}


def test_virt_diff_rejects_an_option_it_does_not_have() -> None:
    with pytest.raises(CommandError, match="--rw is not an option of virt-diff"):
        parse("virt-diff --rw -a a.qcow2 -A b.qcow2")


def test_virt_copy_out_keeps_its_paths_in_order() -> None:
    parsed = parse(COPY_OUT[0])
    assert parsed.value("positional") == ("/etc/hostname", "/etc/fstab", "/tmp")
    assert parsed.value("-a") == ("/var/lib/libvirt/images/centos.qcow2",)


def test_virt_copy_out_options_anywhere_are_the_same_answer() -> None:
    answer = "virt-copy-out /etc/hostname /etc/fstab /tmp --add /var/lib/libvirt/images/centos.qcow2"
    assert check_command(COPY_OUT, answer).correct


def test_virt_copy_out_into_another_directory_is_wrong() -> None:
    answer = "virt-copy-out -a /var/lib/libvirt/images/centos.qcow2 /etc/hostname /etc/fstab /root"
    assert not check_command(COPY_OUT, answer).correct


def test_virt_copy_in_puts_the_guest_directory_last() -> None:
    parsed = parse("virt-copy-in -d centos motd issue /etc")
    assert parsed.value("positional") == ("motd", "issue", "/etc")
    assert parsed.value("-d") == ("centos",)


@pytest.mark.parametrize(
    "answer",
    [
        "guestfish --ro -a /var/lib/libvirt/images/centos.qcow2 -i cat /etc/fstab",
        "guestfish -r -i -a /var/lib/libvirt/images/centos.qcow2 cat /etc/fstab",
        "guestfish --ro --inspector --add /var/lib/libvirt/images/centos.qcow2 cat /etc/fstab",
    ],
)
def test_guestfish_short_and_long_flags_are_the_same(answer: str) -> None:
    assert check_command(GUESTFISH, answer).correct


def test_guestfish_read_write_is_not_read_only() -> None:
    answer = "guestfish -w -a /var/lib/libvirt/images/centos.qcow2 -i cat /etc/fstab"
    assert not check_command(GUESTFISH, answer).correct
    assert "--rw" in parse(answer).flags
