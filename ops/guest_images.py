"""A small bootable image set for real guests, built once with no internet
beyond the Debian mirror apt already uses, and cached in a directory:

- the kernel of Debian's cloud flavour (``linux-image-*-cloud-amd64``),
  fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``, never
  installed;
- a busybox initramfs with the virtio block modules, whose init prints
  MARKER and the block devices it sees (``/proc/partitions``), brings its
  network up (ops/guest_network.py), starts an SSH server for the key the
  metadata service gives (ops/guest_ssh.py), then waits.

They boot by direct kernel boot (an AKI/ARI pair) with the root disk as vda."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ops.guest_network import NETWORK_MODULES, UDHCPC_SCRIPT, UDHCPC_SCRIPT_PATH, network_init
from ops.guest_ssh import DROPBEAR_PACKAGES, SSH_INIT, add_ssh_server

KERNEL_METAPACKAGE = "linux-image-cloud-amd64"
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
MARKER = "cloudledger-guest: init is up"
CMDLINE = "console=ttyS0 panic=-1"
# The guest needs these (and what they depend on) to see its virtio disks.
WANTED_MODULES = ("virtio_pci", "virtio_blk")

# Block devices (a shell fragment of its own): print each disk present at boot
# and each one hot-plugged or unplugged later, with its size in 1 KiB blocks
# and serial; a hot-plugged disk whose first sector is blank gets a marker
# written to it, and a marker found on any disk is printed, so a test can show
# data outliving the guest that wrote it.
DISK_EVENT = "cloudledger-guest: disk"
DISK_WATCH = r"""
disk_names() {
    while read -r _ _ _ name; do
        case "$name" in vd[a-z] | vd[a-z][a-z]) echo "$name" ;; esac
    done < /proc/partitions
}
disk_seen() {
    blocks=$(while read -r _ _ b n; do [ "$n" = "$1" ] && echo "$b"; done < /proc/partitions)
    serial=$(cat /sys/block/$1/serial 2>/dev/null)
    echo "cloudledger-guest: disk $1 $2 ($blocks blocks, serial ${serial:-none})"
    head=$(dd if=/dev/$1 bs=512 count=1 2>/dev/null | tr -d '\000')
    case "$head" in
    cloudledger-marker:*) echo "cloudledger-guest: disk $1 marker ${head#cloudledger-marker:}" ;;
    "") if [ "$2" = added ]; then
            marker=$(cat /proc/sys/kernel/random/uuid)
            printf 'cloudledger-marker:%s\n' "$marker" | dd of=/dev/$1 conv=fsync 2>/dev/null
            echo "cloudledger-guest: disk $1 wrote marker $marker"
        fi ;;
    esac
}
watch_disks() {
    known=" $(disk_names | tr '\n' ' ')"
    for d in $known; do disk_seen "$d" present; done
    while true; do
        usleep 200000
        now=" $(disk_names | tr '\n' ' ')"
        for d in $now; do case "$known" in *" $d "*) ;; *) disk_seen "$d" added ;; esac; done
        for d in $known; do
            case "$now" in *" $d "*) ;; *) echo "cloudledger-guest: disk $d removed" ;; esac
        done
        known="$now"
    done
}
"""

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
{DISK_WATCH}
for module in $(cat /lib/modules/order); do insmod /lib/modules/$module.ko; done
sleep 1
echo "{MARKER}"
cat /proc/partitions
echo "cloudledger-guest: end of partitions"
watch_disks &
{network_init()}
{SSH_INIT}
while true; do sleep 3600; done
"""


@dataclass(frozen=True)
class GuestImages:
    kernel: Path
    initrd: Path
    version: str


def ensure_guest_images(cache: Path) -> GuestImages:
    """The kernel and initramfs in ``cache``, built on first use."""
    kernel, initrd, version_file = cache / "vmlinuz", cache / "initrd.img", cache / "version"
    stamp = cache / "initrd.stamp"
    fresh = stamp.exists() and stamp.read_text() == initramfs_stamp()
    if kernel.exists() and initrd.exists() and version_file.exists() and fresh:
        return GuestImages(kernel, initrd, version_file.read_text().strip())
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        work = Path(scratch)
        package = _kernel_package()
        deb = _download(package, work)
        tree = work / "tree"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        version = package.removeprefix("linux-image-")
        shutil.copyfile(tree / "boot" / f"vmlinuz-{version}", work / "vmlinuz")
        modules = tree / "lib" / "modules" / version / "kernel"
        _write_initramfs(work / "initrd.img", modules)
        (work / "vmlinuz").replace(kernel)
        (work / "initrd.img").replace(initrd)
        version_file.write_text(version + "\n")
        stamp.write_text(initramfs_stamp())
    return GuestImages(kernel, initrd, version)


def initramfs_stamp() -> str:
    """What the initramfs is built from: a cache built from anything else
    (an older init, other modules) is built again."""
    text = "\0".join((INIT, UDHCPC_SCRIPT, *WANTED_MODULES, *NETWORK_MODULES, *DROPBEAR_PACKAGES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _kernel_package() -> str:
    """The versioned package the cloud kernel metapackage points at."""
    out = _apt(["apt-cache", "depends", KERNEL_METAPACKAGE])
    for line in out.splitlines():
        name = line.strip().removeprefix("Depends:").strip()
        if line.strip().startswith("Depends:") and name.startswith("linux-image-"):
            return name
    raise RuntimeError(f"no kernel package behind {KERNEL_METAPACKAGE}: {out!r}")


def _download(package: str, into: Path) -> Path:
    _apt(["apt-get", "download", "-q", package], cwd=into)
    (deb,) = into.glob(f"{package}_*.deb")
    return deb


def _apt(cmd: list[str], cwd: Path | None = None) -> str:
    """Run an apt command; on a machine whose package lists are missing,
    fetch them once and try again."""
    done = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def module_order(found: dict[str, Path], wanted: tuple[str, ...]) -> list[str]:
    """``wanted`` and their dependencies, each after what it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise RuntimeError(f"module dependency loop: {' -> '.join((*path, name))}")
        if name not in found:
            raise RuntimeError(f"kernel module {name} not in the package")
        for needed in module_depends(found[name].read_bytes()):
            visit(needed, (*path, name))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


def module_depends(module: bytes) -> list[str]:
    """The ``depends=`` of a module's .modinfo section (what modprobe reads)."""
    start = module.find(b"\0depends=")
    if start < 0:
        return []
    value = module[start + len(b"\0depends=") : module.index(b"\0", start + 1)]
    return [name.replace("-", "_") for name in value.decode().split(",") if name]


def _write_initramfs(target: Path, modules: Path) -> None:
    found = {p.name.removesuffix(".ko").replace("-", "_"): p for p in modules.rglob("*.ko")}
    order = module_order(found, WANTED_MODULES + NETWORK_MODULES)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        root = Path(scratch)
        (root / "bin").mkdir()
        (root / "lib" / "modules").mkdir(parents=True)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for name in order:
            shutil.copyfile(found[name], root / "lib" / "modules" / f"{name}.ko")
        (root / "lib" / "modules" / "order").write_text("\n".join(order) + "\n")
        (root / "init").write_text(INIT)
        (root / "init").chmod(0o755)
        _add_network_files(root)
        add_ssh_server(root, _download)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        archive = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            cwd=root,
            input="\n".join(names).encode(),
            capture_output=True,
            check=True,
        ).stdout
    target.write_bytes(gzip.compress(archive, compresslevel=1))


def _add_network_files(root: Path) -> None:
    """The DHCP client's script (ops/guest_network.py)."""
    script = root / UDHCPC_SCRIPT_PATH.lstrip("/")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
