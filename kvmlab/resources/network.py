"""libvirt networks as host facts."""

from __future__ import annotations

import libvirt

from kvmlab.connection import lookup
from kvmlab.xmlviews import NetworkXML


class Network:
    def __init__(self, conn: libvirt.virConnect, name: str) -> None:
        self.conn = conn
        self.name = name

    @property
    def handle(self) -> libvirt.virNetwork | None:
        return lookup(lambda: self.conn.networkLookupByName(self.name))

    @property
    def exists(self) -> bool:
        return self.handle is not None

    @property
    def is_active(self) -> bool:
        net = self.handle
        return net is not None and net.isActive() == 1

    @property
    def is_persistent(self) -> bool:
        """Defined (survives a libvirtd restart), not only created (transient)."""
        net = self.handle
        return net is not None and net.isPersistent() == 1

    @property
    def is_autostart(self) -> bool:
        net = self.handle
        return net is not None and net.autostart() == 1

    @property
    def config(self) -> NetworkXML | None:
        net = self.handle
        if net is None:
            return None
        try:
            return NetworkXML.from_xml(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
        except libvirt.libvirtError as err:
            # libvirt's test driver knows no INACTIVE flag; for a stopped network both descriptions are the same.
            if err.get_error_code() != libvirt.VIR_ERR_INVALID_ARG or net.isActive():
                raise
            return NetworkXML.from_xml(net.XMLDesc(0))

    @property
    def live(self) -> NetworkXML | None:
        net = self.handle
        return NetworkXML.from_xml(net.XMLDesc(0)) if net is not None and net.isActive() else None
