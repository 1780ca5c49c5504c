#!/bin/sh
# PID 1 of the kvmlab tiny guest (busybox). Kept short: every line costs boot
# time under TCG. The host waits for the KVMLAB-READY line on ttyS0.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/log /var/run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp

# Modules in dependency order (busybox modprobe reads the copied modules.dep).
while read -r mod; do modprobe "$mod" 2>/dev/null; done < /etc/kvmlab/modules
# Every module the guest has is loaded now: their files would only hold RAM (the root is in RAM).
rm -rf /lib/modules

# virtio-balloon's free page reporting hands freed pages back to the host; by default only
# whole 2 MiB blocks, which leaves most of what the boot touched and freed. Every freed page:
# an idle guest then costs the host about what it uses.
order=/sys/module/page_reporting/parameters/page_reporting_order
[ -w "$order" ] && echo 0 > "$order"

# There is no udev: this helper onlines hot-plugged CPUs and memory and links
# virtio-serial ports by name, as udev rules do on a full distribution.
uevent /sbin/kvmlab-hotplug &
/sbin/kvmlab-hotplug coldplug

# Power button (virsh shutdown --mode acpi) and the guest agent.
acpid -c /etc/acpi
if [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ]; then
    qemu-ga --daemonize --method virtio-serial \
        --path /dev/virtio-ports/org.qemu.guest_agent.0 \
        --pidfile /run/qemu-ga.pid --statedir /run
fi

# The first virtio disk, if it carries our ext4 root image, is mounted so that
# the guest reports the identity written in it (templates, P2V, passwords).
hostname kvmlab
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt/root 2>/dev/null; then
    [ -s /mnt/root/etc/hostname ] && hostname "$(cat /mnt/root/etc/hostname)"
fi
machine_id=$(cat /mnt/root/etc/machine-id 2>/dev/null)

# Dentries and inodes the boot read are dropped: their pages go back to the host with the rest.
echo 3 > /proc/sys/vm/drop_caches
echo "KVMLAB-READY hostname=$(hostname) machine-id=${machine_id:-none} cpus=$(grep -c ^processor /proc/cpuinfo)" > /dev/ttyS0

# A root shell on the serial console for `virsh console`; respawned on exit.
while :; do
    setsid cttyhack sh -l < /dev/ttyS0 > /dev/ttyS0 2>&1
    sleep 1
done
