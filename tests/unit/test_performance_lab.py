"""The host facts the performance grader reads through Host: CPUs, huge pages, O_DIRECT."""

from __future__ import annotations

import os
from pathlib import Path

from kvmlab.resources.cpus import HostCpus
from kvmlab.resources.filesystem import Filesystem
from kvmlab.resources.hugepages import HugePages


def test_host_cpus_parse_refuses_what_is_not_a_cpu_list_with_none(tmp_path: Path) -> None:
    online = tmp_path / "online"
    online.write_text("0-3\n")
    cpus = HostCpus(online)
    assert cpus.online == {0, 1, 2, 3}
    assert cpus.parse("1-2,^2") == {1} and cpus.parse("3-1") is None and cpus.parse(None) is None
    assert cpus.format({0, 1, 3}) == "0-1,3"
    assert cpus.process_of(os.getpid()) == os.getpid() and cpus.affinity(os.getpid())


def test_huge_pages_sizes_reserved_and_default(tmp_path: Path) -> None:
    for size, total in ((2048, 0), (1048576, 2)):
        pool = tmp_path / "hugepages" / f"hugepages-{size}kB"
        pool.mkdir(parents=True)
        (pool / "nr_hugepages").write_text(f"{total}\n")
        (pool / "free_hugepages").write_text(f"{total}\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        4000000 kB\nHugepagesize:       2048 kB\n")
    pages = HugePages(tmp_path / "hugepages", meminfo)
    assert pages.sizes_kib == [2048, 1048576]
    assert pages.reserved == 2  # two 1 GiB pages, reserved at boot (hugepagesz=1G hugepages=2)
    assert pages.default_size_kib == 2048  # what hugepages=N alone (or vm.nr_hugepages) reserves


def test_o_direct_is_tried_on_the_nearest_directory_that_exists(tmp_path: Path) -> None:
    not_yet = tmp_path / "lab" / "data.qcow2"
    assert Filesystem(not_yet).supports_o_direct == Filesystem(tmp_path).supports_o_direct
