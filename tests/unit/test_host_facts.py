"""Host facts read from /proc and /sys (CPU lists, sockets, SR-IOV, huge pages) and the
lab helpers built on them, on small directory trees laid out as the kernel lays them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graders.performance import plausible_seconds
from kvmlab.errors import CommandFailed
from kvmlab.labs.performance import completed_seconds, pinning
from kvmlab.labs.sriov import hostdev_network_xml
from kvmlab.resources import hugepages
from kvmlab.resources.console import GuestConsole
from kvmlab.resources.cpus import format_cpuset, online_cpus, parse_cpuset, thread_affinity, thread_group
from kvmlab.resources.filesystem import nearest_existing, supports_o_direct
from kvmlab.resources.pci import iommu_groups, sriov_pfs
from kvmlab.resources.sockets import is_loopback, tcp_listeners
from kvmlab.xmlviews import DomainXML, NetworkXML

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
TCP6_HEADER = "  sl  local_address                         remote_address                        st tx_queue\n"


def _tcp(local: str, state: str) -> str:
    return f"   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 785093 1\n"


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", {0}), ("0-3", {0, 1, 2, 3}), ("0-3,^2,8", {0, 1, 3, 8}), ("1,3-4", {1, 3, 4})],
)
def test_cpu_lists_parse_as_libvirt_and_the_kernel_write_them(text: str, cpus: set[int]) -> None:
    assert parse_cpuset(text) == cpus


@pytest.mark.parametrize("bad", ["", "a", "3-1", "1,", "0-", "r"])
def test_a_cpu_list_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cpuset(bad)


def test_cpu_lists_are_written_in_the_kernels_spelling() -> None:
    assert format_cpuset({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert format_cpuset([3]) == "3" and format_cpuset([]) == ""


def test_online_cpus_come_from_sysfs(tmp_path: Path) -> None:
    online = tmp_path / "online"
    online.write_text("0-1\n")
    assert online_cpus(online) == [0, 1]


def test_this_process_has_an_affinity_and_is_its_own_thread_group() -> None:
    mine = thread_affinity(os.getpid())
    assert mine and mine <= set(online_cpus())
    assert thread_group(os.getpid()) == os.getpid()
    assert thread_affinity(2**22 + 1) is None and thread_group(2**22 + 1) is None


def test_listeners_are_read_from_proc_net_with_their_addresses(tmp_path: Path) -> None:
    (tmp_path / "tcp").write_text(
        TCP_HEADER
        + _tcp("0100007F:170C", "0A")  # 127.0.0.1:5900 listening
        + _tcp("00000000:170D", "0A")  # 0.0.0.0:5901 listening
        + _tcp("0100007F:170E", "01")  # 127.0.0.1:5902 established: not a listener
    )
    (tmp_path / "tcp6").write_text(TCP6_HEADER + _tcp("00000000000000000000000001000000:170C", "0A"))  # [::1]:5900
    assert tcp_listeners(5900, tmp_path) == ["127.0.0.1", "::1"]
    assert tcp_listeners(5901, tmp_path) == ["0.0.0.0"]
    assert tcp_listeners(5902, tmp_path) == []
    assert is_loopback("::1") and is_loopback("127.0.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("localhost")


def _nic(root: Path, name: str, pci: str, total: int | None) -> None:
    device = root / "devices" / pci
    device.mkdir(parents=True)
    if total is not None:
        (device / "sriov_totalvfs").write_text(f"{total}\n")
        (device / "sriov_numvfs").write_text("0\n")
    (root / "net" / name).mkdir(parents=True)
    (root / "net" / name / "device").symlink_to(device)


def test_sriov_pfs_are_the_nics_that_report_virtual_functions(tmp_path: Path) -> None:
    _nic(tmp_path, "ens1f0", "0000:3b:00.0", 64)
    _nic(tmp_path, "eth0", "0000:00:03.0", None)  # a virtio NIC: no SR-IOV files
    _nic(tmp_path, "ens2f0", "0000:5e:00.0", 0)  # the file exists, the capability is off
    (tmp_path / "net" / "lo").mkdir()
    pfs = sriov_pfs(tmp_path / "net")
    assert [(pf.name, pf.pci, pf.total_vfs, pf.num_vfs) for pf in pfs] == [("ens1f0", "0000:3b:00.0", 64, 0)]


def test_no_iommu_means_no_groups(tmp_path: Path) -> None:
    assert iommu_groups(tmp_path / "absent") == 0
    for group in ("0", "1", "12"):
        (tmp_path / "groups" / group / "devices").mkdir(parents=True)
    assert iommu_groups(tmp_path / "groups") == 3


def test_hugepage_pools_and_default_size(tmp_path: Path) -> None:
    for size, total in (("2048", "0"), ("1048576", "2")):
        pool = tmp_path / f"hugepages-{size}kB"
        pool.mkdir()
        (pool / "nr_hugepages").write_text(total + "\n")
        (pool / "free_hugepages").write_text(total + "\n")
    assert [(p.size_kib, p.total) for p in hugepages.pools(tmp_path)] == [(2048, 0), (1048576, 2)]
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("HugePages_Total:       0\nHugepagesize:       2048 kB\n")
    assert hugepages.default_size_kib(meminfo) == 2048


def test_o_direct_is_tried_on_a_directory_that_exists(tmp_path: Path) -> None:
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    assert isinstance(supports_o_direct(tmp_path), bool)
    assert supports_o_direct(tmp_path / "absent") is False
    assert list(tmp_path.iterdir()) == []  # the probe leaves no file behind


def test_bench_figure_is_read_from_qemu_img_bench_output() -> None:
    out = "Sending 20000 write requests, 4096 bytes each, 64 in parallel\nRun completed in 0.815 seconds.\n"
    assert completed_seconds(out) == 0.815
    with pytest.raises(CommandFailed):
        completed_seconds("qemu-img: Could not open 'x': No such file or directory")
    assert plausible_seconds(0.2) and not plausible_seconds(0) and not plausible_seconds(float("nan"))
    assert not plausible_seconds(True) and not plausible_seconds("0.2") and not plausible_seconds(900)


def test_pinning_keeps_cpu_0_for_the_emulator_only_when_a_cpu_is_spare() -> None:
    assert pinning([0, 1], 2) == (("0", "1"), "0")
    assert pinning([0, 1, 2, 3], 2) == (("1", "2"), "0")
    assert pinning([0], 1) == (("0",), "0")


def test_hostdev_network_xml_reads_back_through_the_view() -> None:
    net = NetworkXML.from_xml(hostdev_network_xml("sriovnet", "ens1f0"))
    assert (net.forward_mode, net.forward_managed, net.forward_pfs()) == ("hostdev", True, ["ens1f0"])
    bare = NetworkXML.from_xml(hostdev_network_xml("sriovnet", None, managed="no"))
    assert bare.forward_managed is False and bare.forward_pfs() == []


def test_tuning_elements_are_read_from_domain_xml() -> None:
    dom = DomainXML.from_xml(
        """<domain type='qemu'><name>t</name><memory unit='MiB'>256</memory><vcpu current='2'>2</vcpu>
        <iothreads>1</iothreads><iothreadids><iothread id='4'/></iothreadids>
        <memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>
        <devices><disk type='file'><driver name='qemu' type='qcow2' cache='none' io='native' iothread='4'/>
        <target dev='vdb' bus='virtio'/><alias name='virtio-disk1'/></disk>
        <controller type='scsi' index='0' model='virtio-scsi'><driver queues='2'/><alias name='scsi0'/></controller>
        </devices></domain>"""
    )
    assert dom.iothread_ids() == [4] and dom.hugepage_sizes_kib() == [2048]
    vdb = dom.disk("vdb")
    assert vdb is not None and (vdb.cache, vdb.io, vdb.iothread, vdb.alias) == ("none", "native", 4, "virtio-disk1")
    (scsi,) = dom.controllers("scsi")
    assert (scsi.model, scsi.queues, scsi.alias) == ("virtio-scsi", 2, "scsi0")
    assert DomainXML.from_xml("<domain><iothreads>2</iothreads></domain>").iothread_ids() == [1, 2]


def test_the_readiness_line_says_which_disk_the_guest_booted_from(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    console = GuestConsole(log)
    assert console.identity == {} and not console.booted
    log.write_bytes(b"[    0.1] booting\r\nKVMLAB-READY hostname=web01-vmware machine-id=abc cpus=1\r\n# ")
    assert console.identity == {"hostname": "web01-vmware", "machine-id": "abc", "cpus": "1"}
    assert console.booted_from_own_disk
    log.write_bytes(b"KVMLAB-READY hostname=kvmlab machine-id=none cpus=1\r\n")  # the initramfs alone
    assert console.booted and not console.booted_from_own_disk
