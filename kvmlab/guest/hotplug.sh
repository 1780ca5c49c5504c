#!/bin/sh
# Run by `uevent` for every kernel event, and once with "coldplug" at boot.
# Does what udev rules do on a full distribution: online hot-added CPUs and
# memory blocks, and name virtio-serial ports under /dev/virtio-ports.
online_all() {
    for f in /sys/devices/system/cpu/cpu[0-9]*/online /sys/devices/system/memory/memory[0-9]*/online; do
        [ -e "$f" ] && [ "$(cat "$f")" = 0 ] && echo 1 > "$f" 2>/dev/null
    done
}
link_ports() {
    mkdir -p /dev/virtio-ports
    for p in /sys/class/virtio-ports/*; do
        [ -e "$p/name" ] || continue
        name=$(cat "$p/name")
        [ -n "$name" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$name"
    done
}

if [ "$1" = coldplug ]; then
    online_all
    link_ports
    exit 0
fi

# Only the device the event is about, as udev's rule does: a late event for one hot-added CPU must not
# bring back another CPU the trainee took offline since.
online_one() {
    f="/sys$DEVPATH/online"
    [ -e "$f" ] && [ "$(cat "$f")" = 0 ] && echo 1 > "$f" 2>/dev/null
}

case "$ACTION/$SUBSYSTEM" in
    add/cpu|add/memory) online_one ;;
    add/virtio-ports) link_ports ;;
esac
