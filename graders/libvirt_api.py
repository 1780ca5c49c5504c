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
    zh="用 virsh：启动虚拟机、设置开机自启、写入你的元数据",
    hints_zh=(
        "virsh 是 libvirt API 之上的 shell：启动已定义的域、让它随守护进程一起启动、把你自己的 XML "
        "存进它的定义，各用一条命令。元数据由它的命名空间 URI 标识；和大多数修改一样，"
        "它可以作用于运行中的域、持久化定义，或者两者。",
        "virsh start DOMAIN；virsh autostart DOMAIN；virsh metadata DOMAIN --uri URI --key KEY --set "
        "'XML'，再加上作用于运行中的域和持久化定义的两个选项",
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
        zh=f"{p.domain} 正在运行",
        hint_zh="已定义的域在启动之前不会运行",
    )
    yield check(
        "virsh-autostart",
        f"{p.domain} starts when libvirtd starts",
        vm.is_autostart,
        expected="autostart",
        actual="autostart" if vm.is_autostart else "no autostart",
        hint="running now says nothing about the next time the daemon starts: that is a flag of its own",
        zh=f"{p.domain} 会随 libvirtd 一起启动",
        hint_zh="现在在运行，不代表下次守护进程启动时它也会启动：那是一个单独的标志",
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
        zh=f"{p.domain} 带着你的元数据，现在有，重启后也有",
        hint_zh="元数据放在域的 XML 里、你的命名空间 URI 下；运行中的域和持久化定义是两份独立的副本，两份都要写",
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
    zh="通过 API：带事件循环连接，然后定义并启动第二台虚拟机",
    hints_zh=(
        "程序通过在某个 URI 上打开的连接和 libvirt 通信。用 XML 定义（define）得到的是持久化的域，"
        "关机时也依然存在；用 XML 创建（create）得到的是临时虚拟机，一停止就彻底没了。"
        "启动已定义的域是另一个单独的调用（它的历史名字叫 create）。",
        "注册 libvirt 的默认事件循环，并在一个线程里运行它；conn = libvirt.open(URI)；dom = "
        "conn.defineXML(XML)；dom.create()",
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
        zh=f"{p.api_domain} 已定义（持久化）",
        hint_zh="直接从 XML 创建的域是临时的：一停止就消失，既不能开机自启，也留不住持久化的元数据；"
        "只有定义出来的域才会持久存在",
    )
    yield check(
        "api-running",
        f"{p.api_domain} is running",
        api.is_running,
        expected="running",
        actual=api.state,
        hint="defining a domain does not start it",
        zh=f"{p.api_domain} 正在运行",
        hint_zh="定义一个域并不会启动它",
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
    zh="通过 API：设置开机自启，写入你的元数据，运行时和持久化配置里都要有",
    hints_zh=(
        "开机自启是持久化域的一个属性。setMetadata 把你的 XML 元素存到你的命名空间 URI 下；它的 flags "
        "决定作用于运行中的域、持久化定义还是两者：默认值（当前状态）对运行中的域只改运行时配置，"
        "下次启动就丢了。",
        "dom.setAutostart(1)；dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, XML, KEY, URI, "
        "FLAGS)，flags 要同时选中两种配置",
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
        zh=f"{p.api_domain} 会随 libvirtd 一起启动",
        hint_zh="现在在运行，不代表下次守护进程启动时它也会启动：必须给这个域打上自启标记",
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
        zh=f"运行中的 {p.api_domain} 带着你的元数据",
        hint_zh="运行中的域没有这份元数据：要么 flags 只选了持久化定义，要么命名空间 URI（标识元数据的是它，"
        "而不是 key）不是要求的那个",
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
        zh=f"{p.api_domain} 的持久化定义里也有它（重启后依然存在）",
        hint_zh="持久化定义里没有它：对运行中的域，默认的 flags（当前状态）只改运行时的域",
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
    zh="通过 API：用回调记录它的生命周期事件，并重启它",
    hints_zh=(
        "libvirt 通过连接推送事件；"
        "客户端要有事件循环在轮询这个连接才能收到——事件循环要在打开连接之前注册，并且一直运行。"
        "生命周期回调会收到域、事件（STARTED、STOPPED 等）和一个详情码（原因：正常启动、被强制关闭等）。",
        "conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, CALLBACK, None)，"
        "回调把 'NAME EVENT DETAIL' 追加到事件文件；然后 dom.destroy() 和 dom.create()",
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
        zh=f"你的生命周期回调看到了 {p.api_domain} 的启动和停止",
        hint_zh="事件文件里应当是你的回调实时收到的内容：虚拟机从没发生过的停止（或详情码和 libvirt "
        "记录的不一致），不可能是回调看到的；必须在回调已注册、事件循环在运行时，让虚拟机停止再启动",
    )
