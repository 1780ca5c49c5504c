from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import libvirt

from kvmlab.labs.libvirt_api import ApiParams, LifecycleRecorder
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "libvirt-api"

BOTH = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG


def _solve(
    virsh_autostart: bool = True,
    transient: bool = False,
    api_autostart: bool = True,
    meta_flags: int = BOTH,
    meta_uri: str | None = None,
    virsh_meta_flags: tuple[str, ...] = ("--live", "--config"),
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, ApiParams)
        s.virsh("start", p.domain)
        if virsh_autostart:
            s.virsh("autostart", p.domain)
        s.virsh("metadata", p.domain, "--uri", p.meta_uri, "--key", p.meta_key, "--set", p.meta_xml, *virsh_meta_flags)

        recorder = LifecycleRecorder(p.uri, p.events_file, (p.api_domain,))
        try:
            xml = Path(p.xml_file).read_text()
            if transient:
                # createXML: running at once, but transient: no autostart, no persistent metadata, gone once stopped.
                dom = recorder.conn.createXML(xml, 0)
                dom.setMetadata(
                    libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                    p.meta_xml,
                    p.meta_key,
                    p.meta_uri,
                    libvirt.VIR_DOMAIN_AFFECT_LIVE,
                )
                recorder.wait_for(p.api_domain, "STARTED")
                return
            dom = recorder.conn.defineXML(xml)
            dom.create()
            if api_autostart:
                dom.setAutostart(1)
            dom.destroy()
            dom.create()
            recorder.wait_for(p.api_domain, "STARTED", count=2)
            # After the restart, so that what the flags leave out stays left out.
            uri = meta_uri or p.meta_uri
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, p.meta_xml, p.meta_key, uri, meta_flags)
        finally:
            recorder.close()

    return apply


def _events_typed_in(s: Toolkit) -> None:
    """No callback at all: the domain defined, started, marked and never restarted; the file typed by hand."""
    p = s.params
    assert isinstance(p, ApiParams)
    s.virsh("start", p.domain)
    s.virsh("autostart", p.domain)
    s.virsh("metadata", p.domain, "--uri", p.meta_uri, "--key", p.meta_key, "--set", p.meta_xml, "--live", "--config")
    dom = s.connection.conn.defineXML(Path(p.xml_file).read_text())
    dom.create()
    dom.setAutostart(1)
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, p.meta_xml, p.meta_key, p.meta_uri, BOTH)
    Path(p.events_file).write_text(f"{p.api_domain} STARTED 0\n{p.api_domain} STOPPED 1\n{p.api_domain} STARTED 0\n")


WRONG = [
    Wrong("virsh-autostart-forgotten", _solve(virsh_autostart=False), frozenset({"virsh-autostart"})),
    Wrong("api-autostart-forgotten", _solve(api_autostart=False), frozenset({"api-autostart"})),
    # flags=0 is VIR_DOMAIN_AFFECT_CURRENT: the live domain only, while it runs.
    Wrong("metadata-flags-0-on-running-domain", _solve(meta_flags=0), frozenset({"api-metadata-config"})),
    Wrong(
        "metadata-config-only",
        _solve(meta_flags=libvirt.VIR_DOMAIN_AFFECT_CONFIG),
        frozenset({"api-metadata-live"}),
    ),
    Wrong(
        "metadata-in-another-namespace",
        _solve(meta_uri="https://example.org/course"),
        frozenset({"api-metadata-live", "api-metadata-config"}),
    ),
    Wrong("virsh-metadata-live-only", _solve(virsh_meta_flags=("--live",)), frozenset({"virsh-metadata"})),
    Wrong("events-file-typed-by-hand", _events_typed_in, frozenset({"api-events"})),
    Wrong(
        "transient-createXML",
        _solve(transient=True),
        frozenset({"api-defined", "api-autostart", "api-metadata-config", "api-events"}),
    ),
]
