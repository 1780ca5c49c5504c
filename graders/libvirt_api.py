"""Checks of the libvirt-API lab (seed question 7): the same operations with virsh and with libvirt-python."""

from __future__ import annotations

from kvmlab.grading import Checks, check, step
from kvmlab.host import DomainXML, Host
from kvmlab.labs.libvirt_api import ApiParams

KVMLAB_MARKS = "{https://kvmlab.dev/xmlns/"  # kvmlab's own metadata (the owner mark): not the trainee's


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
    others = [child.tag for child in meta if not child.tag.startswith(KVMLAB_MARKS)] if meta is not None else []
    return False, f"nothing in {p.meta_uri}" + (f" (found {', '.join(others)})" if others else "")


@step(
    1,
    "With virsh: start the guest, autostart it and give it your metadata",
    hints=(
        "virsh is a shell over the libvirt API: starting a defined domain, marking it to start with the daemon, "
        "and storing your own XML in its definition are one command each. Metadata is identified by its "
        "namespace URI, and, like most changes, made to the running domain, the persistent definition, or both.",
        "virsh start DOMAIN; virsh autostart DOMAIN; virsh metadata DOMAIN --uri URI --key KEY --set 'XML' plus "
        "the options for the running domain and the definition",
    ),
)
def with_virsh(host: Host, p: ApiParams) -> Checks:
    vm = host.domain(p.domain)
    yield check(
        "virsh-started",
        f"{p.domain} is running",
        vm.is_running,
        expected="running",
        actual=vm.state,
        hint="a defined domain does not run until it is started",
    )
    yield check(
        "virsh-autostart",
        f"{p.domain} starts when libvirtd starts",
        vm.is_autostart,
        expected="autostart",
        actual="autostart" if vm.is_autostart else "no autostart",
        hint="running now says nothing about the next time the daemon starts: that is a flag of its own",
    )
    live_ok, live_seen = _metadata(vm.live, p)
    config_ok, config_seen = _metadata(vm.config, p)
    yield check(
        "virsh-metadata",
        f"{p.domain} carries your metadata, now and after a restart",
        live_ok and config_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}, live and config",
        actual=f"live: {live_seen}; config: {config_seen}",
        hint="metadata lives in the domain's XML under your namespace URI; the running domain and the persistent "
        "definition are separate copies, and each must get it",
    )


@step(
    2,
    "Through the API: connect with an event loop, then define and start the second guest",
    hints=(
        "A program talks to libvirt through a connection opened on a URI. Defining XML makes a persistent domain "
        "that exists while shut off; creating one from XML makes a transient guest, gone for good when it stops. "
        "Starting a defined domain is a call of its own (its historic name is create).",
        "register libvirt's default event loop and run it in a thread; conn = libvirt.open(URI); "
        "dom = conn.defineXML(XML); dom.create()",
    ),
)
def define(host: Host, p: ApiParams) -> Checks:
    api = host.domain(p.api_domain)
    yield check(
        "api-defined",
        f"{p.api_domain} is defined (persistent)",
        api.is_persistent,
        expected="persistent",
        actual="persistent" if api.is_persistent else ("transient" if api.exists else "absent"),
        hint="a domain created straight from XML is transient: it vanishes when it stops, keeps no autostart and "
        "no persistent metadata; only a defined domain persists",
    )
    yield check(
        "api-running",
        f"{p.api_domain} is running",
        api.is_running,
        expected="running",
        actual=api.state,
        hint="defining a domain does not start it",
    )


@step(
    3,
    "Through the API: autostart it and give it your metadata, live and persistent",
    hints=(
        "Autostart is a property of a persistent domain. setMetadata stores your XML element under your "
        "namespace URI; its flags choose the running domain, the persistent definition, or both: the default "
        "(the current state) of a running domain is the live one only, lost at the next start.",
        "dom.setAutostart(1); dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, XML, KEY, URI, FLAGS) with the "
        "flags for both views",
    ),
)
def configure(host: Host, p: ApiParams) -> Checks:
    api = host.domain(p.api_domain)
    yield check(
        "api-autostart",
        f"{p.api_domain} starts when libvirtd starts",
        api.is_autostart,
        expected="autostart",
        actual="autostart" if api.is_autostart else "no autostart",
        hint="running now says nothing about the next time the daemon starts: the domain has to be marked",
    )
    live_ok, live_seen = _metadata(api.live, p)
    yield check(
        "api-metadata-live",
        f"the running {p.api_domain} carries your metadata",
        live_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}",
        actual=live_seen,
        hint="the running domain does not have it: the flags chose the definition only, or the namespace URI "
        "(what identifies metadata, not the key) is not the asked one",
    )
    config_ok, config_seen = _metadata(api.config, p)
    yield check(
        "api-metadata-config",
        f"the persistent definition of {p.api_domain} carries it (survives a restart)",
        config_ok,
        expected=f"{p.meta_xml} in {p.meta_uri}",
        actual=config_seen,
        hint="the persistent definition does not have it: on a running domain, the default flags (the current "
        "state) change the live domain only",
    )


@step(
    4,
    "Through the API: record its lifecycle events with a callback, and restart it",
    hints=(
        "libvirt pushes events over the connection; a client receives them only if an event loop polls it, "
        "registered before the connection is opened and kept running. A lifecycle callback gets the domain, the "
        "event (STARTED, STOPPED...) and a detail code (why: booted, destroyed...).",
        "conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, CALLBACK, None), the callback "
        "appending 'NAME EVENT DETAIL' to the events file; then dom.destroy() and dom.create()",
    ),
)
def events(host: Host, p: ApiParams) -> Checks:
    # A STOPPED line counts only if libvirt logged that stop of this domain, with that reason, since the lab
    # started: a file typed by hand, or a stop that never happened, does not pass.
    found = host.lifecycle_events(p.events_file).compared(p.api_domain, host.domain(p.api_domain).runs(), p.xml_file)
    if found.why:
        actual = found.why + (f" ({', '.join(found.seen)})" if found.seen else "")
    elif found.unlogged:
        logged = ", ".join(found.logged) or "none"
        actual = f"{', '.join(found.unlogged)}: not a stop libvirt logged for {p.api_domain} (logged: {logged})"
    else:
        actual = ", ".join(found.seen) or f"no events for {p.api_domain}"
    yield check(
        "api-events",
        f"your lifecycle callback saw {p.api_domain} start and stop",
        found.saw("STARTED", "STOPPED") and found.believable,
        expected=f"STARTED and STOPPED, each stop one libvirt logged for {p.api_domain}",
        actual=actual,
        hint="the events file holds what your callback was told, as it happened: a stop the guest never had (or "
        "with another detail code than libvirt's) was not seen by a callback; the guest has to stop and start "
        "again while the callback is registered and the event loop runs",
    )
