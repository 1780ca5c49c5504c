"""libvirt storage pools and their volumes as host facts."""

from __future__ import annotations

import libvirt

from kvmlab.connection import lookup
from kvmlab.xmlviews import PoolXML, VolumeXML


class Pool:
    def __init__(self, conn: libvirt.virConnect, name: str) -> None:
        self.conn = conn
        self.name = name

    @property
    def handle(self) -> libvirt.virStoragePool | None:
        return lookup(lambda: self.conn.storagePoolLookupByName(self.name))

    @property
    def exists(self) -> bool:
        return self.handle is not None

    @property
    def is_active(self) -> bool:
        pool = self.handle
        return pool is not None and pool.isActive() == 1

    @property
    def is_persistent(self) -> bool:
        """Defined (survives a libvirtd restart), not only created (transient)."""
        pool = self.handle
        return pool is not None and pool.isPersistent() == 1

    @property
    def is_autostart(self) -> bool:
        pool = self.handle
        return pool is not None and pool.autostart() == 1

    @property
    def config(self) -> PoolXML | None:
        pool = self.handle
        if pool is None:
            return None
        return PoolXML.from_xml(pool.XMLDesc(libvirt.VIR_STORAGE_XML_INACTIVE))

    def volume(self, name: str) -> VolumeXML | None:
        pool = self.handle
        if pool is None or not pool.isActive():
            return None
        pool.refresh(0)
        vol = lookup(lambda: pool.storageVolLookupByName(name))
        return VolumeXML.from_xml(vol.XMLDesc(0)) if vol is not None else None

    def volume_names(self) -> list[str]:
        pool = self.handle
        if pool is None or not pool.isActive():
            return []
        pool.refresh(0)
        return sorted(pool.listVolumes())
