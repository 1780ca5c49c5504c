"""Module dependency resolution against Debian's real cloud kernel (set up by make setup)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvmlab.errors import GuestNotBuilt
from kvmlab.guest import kernel


@pytest.fixture(scope="module")
def source() -> Iterator[kernel.KernelSource]:
    try:
        src = kernel.find_kernel()
    except GuestNotBuilt:
        pytest.skip("no cloud kernel package here: make setup downloads it")
    yield src
    src.cleanup()


def test_every_module_loads_after_its_dependencies(source: kernel.KernelSource) -> None:
    mods = kernel.resolve_modules(source.modules_root)

    def module_name(path: str) -> str:  # file names may use '-' where module names use '_'
        return path.rsplit("/", 1)[1].removesuffix(".ko").replace("-", "_")

    for i, name in enumerate(mods.order):
        path = next(p for p in mods.files if module_name(p) == name)
        for dep in mods.deps[path]:
            assert mods.order.index(module_name(dep)) < i, f"{name} needs {module_name(dep)} first"


def test_the_virtio_drivers_the_labs_need_are_included(source: kernel.KernelSource) -> None:
    order = kernel.resolve_modules(source.modules_root).order
    for needed in ("virtio_pci", "virtio_blk", "virtio_net", "virtio_balloon", "virtio_console"):
        assert needed in order


def test_modules_dep_names_full_dependency_closure(source: kernel.KernelSource) -> None:
    mods = kernel.resolve_modules(source.modules_root)
    line = next(ln for ln in kernel.modules_dep_text(mods).splitlines() if "/virtio_net.ko:" in ln)
    assert "virtio_ring.ko" in line and "net_failover.ko" in line
