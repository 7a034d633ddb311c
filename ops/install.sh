#!/usr/bin/env bash
# Install what `make run` and `make test` need; idempotent, silent when done.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=/usr/lib/postgresql/15/bin
# qemu-system-x86 and the libvirt QEMU driver run real guests (embedded, no
# daemon), ovmf is their UEFI firmware; busybox-static and cpio build their
# initramfs (ops/guest_images.py); dosfstools, mtools and syslinux their
# whole-disk image (ops/guest_disk.py). tgt is the userspace iSCSI target that
# serves volumes (ops/tgtd.py; its package starts no service here), and
# qemu-block-extra holds QEMU's iSCSI initiator (libiscsi). No open-iscsi: the
# kernel initiator does not work on these machines (docs/block-storage.md).
DEB_PACKAGES=(redis-server libvirt-dev pkg-config qemu-utils qemu-system-x86 qemu-block-extra
    libvirt-daemon libvirt-daemon-driver-qemu ovmf busybox-static cpio
    dosfstools mtools syslinux syslinux-common syslinux-efi tgt)
# The real network driver's tools (docs/networking.md): nftables for NAT and
# security groups, dnsmasq-base for DHCP, iptables; none starts a service.
DEB_PACKAGES+=(nftables dnsmasq-base iptables)
# The SSH client the real-networking e2e test logs in to a guest with (the
# guest's own server, dropbear, is unpacked from its .deb, not installed:
# ops/guest_ssh.py).
DEB_PACKAGES+=(openssh-client)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
done
[[ -x $PG_BIN/postgres ]] || missing+=(postgresql-15)
# Debian's own python3 cannot make a venv without python3-venv.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "ops/install.sh: run as root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "ops/install.sh: installing ${missing[*]}"
    # Keep maintainer scripts from starting system redis/postgres services:
    # the project runs private servers on ports of its own.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt's QEMU driver will not start without its user and group.
if ! getent passwd libvirt-qemu >/dev/null; then
    if ((EUID != 0)); then
        echo "ops/install.sh: run as root to create the libvirt-qemu user" >&2
        exit 1
    fi
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt \
        --shell /usr/sbin/nologin libvirt-qemu
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "ops/install.sh: creating .venv"
    python3 -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -e $stamp || pyproject.toml -nt $stamp ]]; then
    echo "ops/install.sh: installing the project into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi

# Bytecode for the project's own modules, written here because nothing else
# writes it where PYTHONDONTWRITEBYTECODE is set (as on these machines): a
# stack starts ten processes, each compiling them all again, about 0.4 s of
# CPU apiece. Only changed files are compiled, so this is quick when current.
.venv/bin/python -m compileall -q api commands domain ops projections workers >/dev/null
