"""kvmlab: a hands-on KVM course and interview trainer on real libvirt."""

__version__ = "0.1.0"
