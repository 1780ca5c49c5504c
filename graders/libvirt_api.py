"""Checks of the libvirt-API lab (seed question 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kvmlab.grading import Check, check
from kvmlab.guestxml import OWNER_NS
from kvmlab.host import Host
from kvmlab.labs.libvirt_api import ApiParams
from kvmlab.xmlviews import DomainXML


def _metadata(xml: DomainXML | None, p: ApiParams) -> tuple[bool, str]:
    """Whether ``xml`` carries the asked element in the asked namespace, and what it carries instead."""
    if xml is None:
        return False, "no such definition"
    el = xml.metadata(p.meta_uri)
    if el is not None:
        tag = el.tag.rpartition("}")[2]
        value = (el.text or "").strip()
        return tag == p.meta_tag and value == p.meta_value, f"<{tag}>{value}</{tag}> in {p.meta_uri}"
    meta = xml.node.find("metadata")
    others = [child.tag for child in meta if not child.tag.startswith("{" + OWNER_NS + "}")] if meta is not None else []
    return False, f"nothing in {p.meta_uri}" + (f" (found {', '.join(others)})" if others else "")


def _events(path: str, name: str) -> list[str]:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [parts[1] for parts in (line.split() for line in lines) if len(parts) >= 2 and parts[0] == name]


def checks(host: Host, p: ApiParams) -> Iterator[Check]:
    meta_hint = f"--uri {p.meta_uri} --key {p.meta_key} --set '{p.meta_xml}'"

    vm = host.domain(p.domain)
    yield check(
        "virsh-started",
        f"{p.domain} is running",
        vm.is_running,
        expected="running",
        actual=vm.state,
        hint=f"virsh start {p.domain}",
    )
    yield check(
        "virsh-autostart",
        f"{p.domain} starts when libvirtd starts",
        vm.is_autostart,
        expected="autostart",
        actual="autostart" if vm.is_autostart else "no autostart",
        hint=f"virsh autostart {p.domain}",
    )
    live_ok, live_seen = _metadata(vm.live, p)
    config_ok, config_seen = _metadata(vm.config, p)
    yield check(
        "virsh-metadata",
        f"{p.domain} carries your metadata, now and after a restart",
        live_ok and config_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}, live and config",
        actual=f"live: {live_seen}; config: {config_seen}",
        hint=f"virsh metadata {p.domain} {meta_hint} --live --config",
    )

    api = host.domain(p.api_domain)
    yield check(
        "api-defined",
        f"{p.api_domain} is defined (persistent)",
        api.is_persistent,
        expected="persistent",
        actual="persistent" if api.is_persistent else ("transient" if api.exists else "absent"),
        hint="conn.defineXML(xml) defines; conn.createXML(xml) starts a transient guest that vanishes when it stops",
    )
    yield check(
        "api-running",
        f"{p.api_domain} is running",
        api.is_running,
        expected="running",
        actual=api.state,
        hint="dom.create() starts a defined domain (virsh start)",
    )
    yield check(
        "api-autostart",
        f"{p.api_domain} starts when libvirtd starts",
        api.is_autostart,
        expected="autostart",
        actual="autostart" if api.is_autostart else "no autostart",
        hint="dom.setAutostart(1) (persistent domains only)",
    )
    live_ok, live_seen = _metadata(api.live, p)
    yield check(
        "api-metadata-live",
        f"the running {p.api_domain} carries your metadata",
        live_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}",
        actual=live_seen,
        hint="dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, uri, flags) with "
        "VIR_DOMAIN_AFFECT_LIVE in flags; the namespace uri is what identifies it",
    )
    config_ok, config_seen = _metadata(api.config, p)
    yield check(
        "api-metadata-config",
        f"the persistent definition of {p.api_domain} carries it (survives a restart)",
        config_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}",
        actual=config_seen,
        hint="flags=0 means AFFECT_CURRENT: on a running domain, live only; "
        "use VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG",
    )
    seen = _events(p.events_file, p.api_domain)
    yield check(
        "api-events",
        f"your lifecycle callback saw {p.api_domain} start and stop",
        {"STARTED", "STOPPED"} <= set(seen),
        expected="STARTED and STOPPED",
        actual=", ".join(seen) or f"no events for {p.api_domain} in {Path(p.events_file).name}",
        hint="virEventRegisterDefaultImpl() before libvirt.open(), a thread running virEventRunDefaultImpl(), "
        "domainEventRegisterAny(..., VIR_DOMAIN_EVENT_ID_LIFECYCLE, ...); then destroy and create",
    )
