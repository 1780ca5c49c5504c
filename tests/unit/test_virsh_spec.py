"""The recorded virsh spec is what the installed virsh says (so answers are judged by virsh's own rules)."""

from __future__ import annotations

import subprocess

import pytest

from kvmlab.quiz import virsh_spec


@pytest.mark.parametrize(
    "command",
    [
        "setvcpus",
        "setmem",
        "attach-disk",
        "attach-interface",
        "qemu-monitor-command",
        "dumpxml",
        "net-dumpxml",
        "pool-dumpxml",
        "setmaxmem",
        "vcpupin",
    ],
)
def test_recorded_options_match_installed_virsh(command: str) -> None:
    live = subprocess.run(["virsh", "help", command], capture_output=True, text=True, check=True).stdout
    spec = virsh_spec.parse_help(live)
    virsh_spec.probe_positional(command, spec["options"])
    assert spec == virsh_spec.load()["commands"][command]


def test_bare_words_go_where_virsh_puts_them() -> None:
    from kvmlab.quiz.commands import parse

    assert parse("virsh vcpupin centos 0 1").values == parse("virsh vcpupin centos --vcpu 0 --cpulist 1").values
    with pytest.raises(ValueError, match="unexpected argument '//name'"):
        parse("virsh dumpxml centos //name")  # --xpath is name-only: virsh says "unexpected data"


def test_every_installed_command_is_recorded() -> None:
    assert set(virsh_spec.list_commands()) == set(virsh_spec.load()["commands"])


@pytest.mark.parametrize("command", sorted(virsh_spec.ARGV_COMMAND_POSITIONALS))
def test_bare_names_of_argv_commands_are_what_virsh_does(command: str) -> None:
    """virsh itself puts the bare word into --name (the test driver prints the XML it would use)."""
    out = subprocess.run(
        ["virsh", "-c", "test:///default", command, "test", "probe1", "--print-xml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "<name>probe1</name>" in out


def test_argv_options_collect_bare_words_and_repeats() -> None:
    from kvmlab.quiz.commands import parse

    named = parse("virsh snapshot-create-as centos --name s1 --diskspec vda,snapshot=no --disk-only")
    assert named.values == parse("virsh snapshot-create-as centos s1 --disk-only --diskspec vda,snapshot=no").values
    two = parse("virsh snapshot-create-as centos s1 --diskspec vda,snapshot=no --diskspec vdb,snapshot=no --disk-only")
    assert two.value("diskspec") == ("vda,snapshot=no vdb,snapshot=no",)
    assert (
        parse("virsh qemu-monitor-command centos --hmp --cmd info kvm").values
        == parse("virsh qemu-monitor-command centos --hmp 'info kvm'").values
    )


def test_domstats_takes_a_list_of_domains_as_bare_words() -> None:
    from kvmlab.quiz.commands import parse

    # `virsh help domstats` lists "<domain>" with no --name: bare words only, as many as given.
    assert parse("virsh domstats centos --state").value("domain") == ("centos",)
    assert parse("virsh domstats --state").value("domain") == ()
