"""The lab guest on real libvirt: boots, answers through its agent, onlines hot-plugged CPUs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

import libvirt
import pytest

from kvmlab.labs.base import Lab, Params
from kvmlab.resources.agent import poll
from kvmlab.resources.domain import Domain
from kvmlab.session import LabSession
from kvmlab.toolkit import Toolkit
from kvmlab.trainee import Trainee


class GuestOnly(Lab):
    """Just the tiny guest, with room for a second vCPU."""

    id: ClassVar[str] = "guest-probe"
    title: ClassVar[str] = "guest probe"
    topic: ClassVar[str] = "test"
    seed_questions: ClassVar[tuple[int, ...]] = ()
    notebook: ClassVar[str] = ""
    grader: ClassVar[str] = ""

    def params(self, kit: Toolkit) -> Params:
        return Params()

    def start(self, kit: Toolkit) -> None:
        kit.lab_guest(kit.guest_spec("probe", max_vcpus=2))

    def solve(self, kit: Toolkit) -> None:
        return None


@pytest.fixture(scope="module")
def probe(system: object) -> Iterator[tuple[LabSession, Domain]]:
    session = LabSession(GuestOnly(), Trainee("gtest"))
    session.finish()
    session.start()
    yield session, session.host.domain("gtest-probe")
    session.finish()


def test_guest_reports_identity_from_its_disk(probe: tuple[LabSession, Domain]) -> None:
    session, _vm = probe
    line = next(
        ln for ln in session.toolkit.path("gtest-probe.console.log").read_text().splitlines() if "KVMLAB-READY" in ln
    )
    assert "hostname=golden" in line and "machine-id=none" not in line


def test_agent_runs_commands_in_the_guest(probe: tuple[LabSession, Domain]) -> None:
    _session, vm = probe
    assert vm.guest is not None
    result = vm.guest.run(["/bin/uname", "-r"])
    assert result.exitcode == 0 and result.stdout.strip().endswith("cloud-amd64")
    assert "vda" in vm.guest.block_devices()


def test_domain_type_follows_the_accelerator_verdict(probe: tuple[LabSession, Domain]) -> None:
    session, vm = probe
    assert vm.live is not None and vm.live.domain_type == session.toolkit.verdict.domain_type


def test_hot_plugged_cpu_is_onlined_by_the_guest(probe: tuple[LabSession, Domain]) -> None:
    _session, vm = probe
    dom = vm.handle
    assert dom is not None and vm.guest is not None
    dom.setVcpusFlags(2, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    guest = vm.guest
    assert poll(guest.online_cpus, lambda n: n == 2, seconds=10) == 2


def test_acpi_power_button_shuts_the_guest_down(probe: tuple[LabSession, Domain]) -> None:
    session, vm = probe
    dom = vm.handle
    assert dom is not None
    dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
    deadline = time.monotonic() + 20
    while dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not dom.isActive(), "busybox acpid should power the guest off on the ACPI button"
    session.toolkit.boot(dom, session.toolkit.path("gtest-probe.console.log"))  # leave it running for the other tests
