#!/usr/bin/env bash
# kvmlab set-up: host packages, the venv, libvirt daemons, the lab guest,
# the accelerator verdict. Idempotent: with nothing to do it takes a few
# seconds. Every step says what it does; long ones show their progress.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}

APT_PACKAGES=(
    qemu-system-x86 qemu-utils qemu-guest-agent
    libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
    busybox-static e2fsprogs dnsmasq-base iproute2 openssh-client
    # lz4: the guest build unpacks the cloud kernel's payload, so guests boot it through PVH
    lz4
    libguestfs-tools virtinst virt-v2v
    # lspci for the SR-IOV lab (PCI devices, Ethernet controllers)
    pciutils
    # Debian's cloud kernel: the lab guest is built from it, and libguestfs
    # (offline password, templates) boots its appliance with the kernel in /boot.
    linux-image-cloud-amd64
    gcc
    # The browser tests drive JupyterLab in Debian's Chromium (Playwright cannot download
    # browsers here); Chinese text needs a CJK font or Chromium draws boxes.
    chromium fonts-noto-cjk
    # libvirtd's reaper: see "libvirt daemons" below
    tini
    # polkit and its system bus, so virsh on a terminal finds the service it asks (see below)
    dbus polkitd
    # dot: the notebooks draw backing chains and networks with it (kvmlab.pictures), offline
    graphviz
)

t0=$(date +%s.%N)
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "kvmlab setup: '$*' needs root; run make as root or install sudo" >&2; return 1; fi
}

missing_packages() {
    local pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || echo "$pkg"
    done
}

apt_install() {
    # Try without `apt-get update` first: on a machine with fresh lists it is
    # wasted time; on one with stale lists the install fails and we update.
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q --no-install-recommends "$@" \
        || { as_root apt-get update -q && as_root apt-get install -y -q --no-install-recommends "$@"; }
}

# 1. Host packages -----------------------------------------------------------
mapfile -t MISSING < <(missing_packages)
if [ "${#MISSING[@]}" -gt 0 ]; then
    step "installing host packages: ${MISSING[*]}"
    s=$(date +%s.%N); apt_install "${MISSING[@]}"; echo "    done in $(elapsed "$s") s"
else
    step "host packages: all ${#APT_PACKAGES[@]} installed"
fi

# 2. Python venv --------------------------------------------------------------
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    step "installing python3-venv"; apt_install python3-venv
fi
if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.kvmlab-installed"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    step "installing kvmlab and its dependencies into $VENV (libvirt-python compiles: ~1 min the first time)"
    s=$(date +%s.%N)
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install --progress-bar on -e ".[dev]"
    # JupyterLab's news pop-up asks a question every trainee would have to answer.
    "$VENV/bin/jupyter" labextension disable "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1 || true
    touch "$STAMP"
    echo "    done in $(elapsed "$s") s"
else
    step "venv: kvmlab installed in $VENV"
fi

# 3. libvirt daemons (there may be no systemd) --------------------------------
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt
    # Without udev nobody applies Debian's rule for /dev/kvm (group kvm, 0660).
    # libvirt then finds KVM "unusable" for its QEMU user but usable in its
    # probe, throws its capability cache away on every call, and each define
    # takes ~30 s. Do what udev would do; whether KVM *works* is still decided
    # by booting a guest (kvmlab doctor).
    if [ -c /dev/kvm ] && getent group kvm >/dev/null \
        && [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
        step "giving /dev/kvm the kvm group and mode 0660, as udev does"
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    fi
    if ! alive /var/run/virtlogd.pid; then
        step "starting virtlogd"; virtlogd -d
    fi
    # virsh on a terminal (a shell, or a notebook's `!virsh`, which IPython runs on a pty) starts
    # polkit's text agent, and says "Authorization not available. Check if polkit service is
    # running" on every call when it is not. libvirt-daemon-system brings polkitd; without systemd
    # nothing starts it, nor the system bus it answers on. Start both, as an init would.
    if command -v dbus-daemon >/dev/null && [ -x /usr/lib/polkit-1/polkitd ]; then
        if ! alive /run/dbus/pid; then
            step "starting the system D-Bus (polkit answers on it)"
            mkdir -p /run/dbus && rm -f /run/dbus/pid && dbus-daemon --system --fork
        fi
        if ! pgrep -x polkitd >/dev/null; then
            step "starting polkitd (virsh on a terminal asks it)"
            setsid /usr/lib/polkit-1/polkitd --no-debug </dev/null >/dev/null 2>&1 &
        fi
    fi
    if ! alive /var/run/libvirtd.pid; then
        # QEMU daemonizes, so a guest's QEMU is re-parented to PID 1 when it exits. Without an init
        # that reaps at once (containers, VMs with a bare PID 1) it stays a zombie, and libvirt waits
        # ~1.5 s on every `virsh destroy`. tini -s, a subreaper above libvirtd, reaps it at once.
        step "starting libvirtd (under tini, which reaps its guests' QEMUs)"
        setsid tini -s -- libvirtd </dev/null >/dev/null 2>&1 &
    fi
    for _ in $(seq 1 50); do
        virsh -c qemu:///system version >/dev/null 2>&1 && break
        sleep 0.2
    done
    virsh -c qemu:///system version >/dev/null || { echo "kvmlab setup: libvirtd did not come up" >&2; exit 1; }
    step "libvirtd answers at qemu:///system"
else
    step "not root: labs will use qemu:///session (its daemon starts on demand)"
fi

# 4. The lab guest and the accelerator verdict --------------------------------
step "lab guest"
"$VENV/bin/kvmlab" guest build
step "accelerator (decided by booting the guest under KVM, cached per host)"
"$VENV/bin/kvmlab" doctor

echo "kvmlab setup complete in $(elapsed "$t0") s"
