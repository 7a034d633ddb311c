"""First-start data: the Default domain, the admin project and user,
default flavors, hosts, an image; with real guests, a bootable image too."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from commands.catalog import CreateFlavor, RegisterHost
from commands.domains import CreateDomain
from commands.identity import CreateProject, CreateUser
from commands.images import CreateImage
from commands.names import holder_of
from commands.network_routers import GatewaySpec, RouterSpec
from commands.network_services import NetworkCommands
from commands.network_subnets import SubnetSpec
from commands.networks import NetworkSpec
from commands.services import Services
from domain.domains import DEFAULT_DOMAIN_ID, Domain
from domain.flavor import Flavor
from domain.network import SegmentPool
from domain.network_values import AllocationPool
from domain.values import SYSTEM, Actor
from ops.guest_images import CMDLINE, GuestImages

# Nova's classic defaults: (id, name, vcpus, ram MiB, root disk GiB)
DEFAULT_FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
]
SEED_IMAGE_NAME = "tiny-qcow2"
GUEST_IMAGE_NAME = "cloudledger-guest"
# The same guest as one whole disk with a bootloader: from BIOS, and from UEFI.
DISK_IMAGE_NAME = "cloudledger-disk"
UEFI_IMAGE_NAME = "cloudledger-disk-uefi"


def seed(services: Services, admin_password: str, hosts: list[RegisterHost]) -> list[str]:
    """Idempotent: creates only what is missing; returns what it created."""
    app, created = services.app, []
    if Domain.create_id(DEFAULT_DOMAIN_ID) not in app.repository:
        default = CreateDomain("Default", "The default domain", domain_id=DEFAULT_DOMAIN_ID)
        services.create_domain(default, SYSTEM)
        created.append("domain Default")
    first_start = holder_of(app, "project", DEFAULT_DOMAIN_ID, "admin") is None
    if first_start:
        services.create_project(CreateProject("admin", "Bootstrap project"), SYSTEM)
        created.append("project admin")
    if holder_of(app, "user", DEFAULT_DOMAIN_ID, "admin") is None:
        services.create_user(CreateUser("admin", admin_password, "admin", ("admin",)), SYSTEM)
        created.append("user admin")
    for flavor_id, name, vcpus, ram, disk in DEFAULT_FLAVORS:
        if Flavor.create_id(flavor_id) not in app.repository:
            services.create_flavor(CreateFlavor(flavor_id, name, vcpus, ram, disk), SYSTEM)
            created.append(f"flavor {name}")
    for host in hosts:
        if services.register_host(host, SYSTEM).events:
            created.append(f"host {host.name}")
    if first_start:  # later starts (say, with more --hosts) add no second image
        _seed_image(services)
        created.append(f"image {SEED_IMAGE_NAME}")
    # A cloud made before networking gets its networks at its next start.
    if SegmentPool.create_id("flat", "external") not in app.repository:
        created.extend(seed_networks(services))
    return created


# The cloud's own networks, made at first start: a shared tenant network,
# the external network whose subnet is the floating-IP pool (the address
# range workers/drivers/netns_topology.py gives the external namespace), and a router
# joining them, so a server boots with an address and takes a floating IP
# with no set-up.
PRIVATE_CIDR = "10.0.0.0/24"
PUBLIC_CIDR = "198.51.100.0/24"
PUBLIC_POOL = AllocationPool("198.51.100.10", "198.51.100.250")


def seed_networks(services: Services) -> list[str]:
    admin_id = holder_of(services.app, "project", DEFAULT_DOMAIN_ID, "admin")
    assert admin_id is not None, "the admin project is seeded first"
    admin = Actor("system", admin_id.hex, ("admin",), "bootstrap")
    network = NetworkCommands(services.app)
    public = network.create_networks(
        [
            NetworkSpec(
                name="public",
                external=True,
                network_type="flat",
                physical_network="external",
                mtu=1500,
            )
        ],
        admin,
    ).id
    network.create_subnets(
        [
            SubnetSpec(
                str(public),
                PUBLIC_CIDR,
                name="public-subnet",
                allocation_pools=(PUBLIC_POOL,),
                enable_dhcp=False,
            )
        ],
        admin,
    )
    private = network.create_networks([NetworkSpec(name="private", shared=True)], admin).id
    subnet = network.create_subnets(
        [SubnetSpec(str(private), PRIVATE_CIDR, name="private-subnet")], admin
    ).id
    router = network.create_router(
        RouterSpec(name="router1", gateway=GatewaySpec(str(public))), admin
    ).id
    network.add_router_interface(str(router), str(subnet), "", admin)
    return [
        f"network public ({PUBLIC_CIDR}, floating IPs)",
        f"network private ({PRIVATE_CIDR}, shared)",
        "router router1",
    ]


def seed_guest_images(services: Services, images: GuestImages, marker: Path) -> list[str]:
    """The AKI/ARI/AMI trio of a real guest, public, once (``marker`` keeps
    their ids): `server create --image cloudledger-guest` boots the kernel
    with the initramfs, its root disk as vda."""
    if marker.exists():
        return []
    kernel = _upload(
        services, CreateImage(f"{GUEST_IMAGE_NAME}-kernel", "aki", "aki", "public"), images.kernel
    )
    ramdisk = _upload(
        services, CreateImage(f"{GUEST_IMAGE_NAME}-ramdisk", "ari", "ari", "public"), images.initrd
    )
    boot = {"kernel_id": kernel, "ramdisk_id": ramdisk, "os_command_line": CMDLINE}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1G"], check=True)
        machine = CreateImage(GUEST_IMAGE_NAME, "qcow2", "bare", "public", properties=boot)
        guest = _upload(services, machine, root)
    marker.write_text(f"{guest}\n{kernel}\n{ramdisk}\n")
    return [f"image {GUEST_IMAGE_NAME} (kernel {images.version})"]


def seed_disk_images(services: Services, disk: Path, marker: Path) -> list[str]:
    """The whole-disk guest, public, twice, once (``marker`` keeps their ids):
    as a BIOS image, and as a UEFI one (``hw_firmware_type=uefi``)."""
    if marker.exists():
        return []
    bios = _upload(services, CreateImage(DISK_IMAGE_NAME, "qcow2", "bare", "public"), disk)
    uefi_image = CreateImage(
        UEFI_IMAGE_NAME, "qcow2", "bare", "public", properties={"hw_firmware_type": "uefi"}
    )
    uefi = _upload(services, uefi_image, disk)
    marker.write_text(f"{bios}\n{uefi}\n")
    return [f"images {DISK_IMAGE_NAME} and {UEFI_IMAGE_NAME}"]


def _upload(services: Services, cmd: CreateImage, data: Path) -> str:
    receipt = services.create_image(cmd, SYSTEM)
    with data.open("rb") as f:
        services.upload_image(str(receipt.id), iter(lambda: f.read(1 << 20), b""), SYSTEM)
    return str(receipt.id)


def _seed_image(services: Services) -> None:
    """A small qcow2 disk, public, so `server create --image tiny-qcow2` works
    out of the box (the libvirt test driver does not boot what is inside)."""
    admin = SYSTEM
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
        receipt = services.create_image(
            CreateImage(SEED_IMAGE_NAME, "qcow2", "bare", "public", 0, 0), admin
        )
        with path.open("rb") as f:
            services.upload_image(str(receipt.id), iter(lambda: f.read(1 << 20), b""), admin)
