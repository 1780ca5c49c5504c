"""Host facts the p2v-v2v grader stands on: a VMDK's sub-format, who listens on a TCP port."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from kvmlab.resources.tcpport import TcpPort
from kvmlab.resources.vmdk import VmdkImage


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_a_vmdk_names_its_sub_format_and_other_images_none(tmp_path: Path) -> None:
    for sub in ("streamOptimized", "monolithicSparse"):
        path = tmp_path / f"{sub}.vmdk"
        argv = ["qemu-img", "create", "-q", "-f", "vmdk", "-o", f"subformat={sub}", str(path), "1M"]
        subprocess.run(argv, check=True)
        assert VmdkImage(path).create_type == sub
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "1M"], check=True)
    assert VmdkImage(qcow2).create_type is None
    assert VmdkImage(tmp_path / "missing.vmdk").create_type is None


def test_a_port_lists_the_addresses_a_socket_listens_on() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert TcpPort(port).listeners == ["127.0.0.1"]
    assert TcpPort(0).listeners == []
