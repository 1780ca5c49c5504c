"""The bank covers what KVM interviews ask, and teaches by running what runs here.

The ten themes below are where interview write-ups showed the bank thin or
silent (ranked by how often interviewers ask them). Each theme is a topic file;
each needs at least 8 questions, and a theme whose commands run on this host
needs at least one command question that the suite executes
(tests/integration/test_bank_commands.py), not only checks for syntax.
"""

from __future__ import annotations

import pytest

from kvmlab.quiz import bank as bankmod

BANK = bankmod.load(bankmod.default_dir())

# theme -> (topic file, does it run here?)
THEMES = {
    "OpenStack Nova operations": ("nova-ops", False),
    "the virsh lifecycle in full": ("virsh-lifecycle", True),
    "troubleshooting runbooks": ("troubleshooting", True),
    "Linux virtual networking beyond bridges (TUN/TAP, macvtap)": ("virtual-networking", True),
    "CPU virtualization internals (nested detection)": ("cpu-internals", True),
    "storage security and sharing (LUKS qcow2)": ("storage-security", True),
    "libguestfs beyond customize (virt-diff, copy-in/out)": ("libguestfs", True),
    "USB and generic hostdev hot-plug": ("hostdev-usb", True),
    "libvirt security administration": ("libvirt-admin-security", False),
    "upgrading hypervisor hosts without downtime": ("host-upgrades", False),
}


def test_the_bank_has_at_least_400_questions() -> None:
    assert not BANK.problems, BANK.problems[:5]
    assert len(BANK.questions) >= 400


@pytest.mark.parametrize("theme", list(THEMES))
def test_each_interview_theme_is_covered(theme: str) -> None:
    topic, runs_here = THEMES[theme]
    questions = BANK.select([topic])
    assert len(questions) >= 8, f"{theme}: {len(questions)} questions in questions/{topic}.md"
    if runs_here:
        executed = [q.id for q in questions if q.type == "command" and q.run != "syntax"]
        assert executed, f"{theme} runs here: it needs a command question the suite executes"
