"""What tempest is told about the interop stack, asked of its API as its
admin: the images to boot, the compute microversions it serves, the
external network and the Networking extensions it serves; with real guests,
the guest image's SSH user as well."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from ops.guest_ssh import SSH_USER
from ops.interop_stack import InteropStack
from ops.interop_tempest import Cloud
from ops.seed import DISK_IMAGE_NAME, GUEST_IMAGE_NAME, SEED_IMAGE_NAME

ALT_IMAGE_NAME = f"{SEED_IMAGE_NAME}-alt"
SEED_WAIT_S = 30.0  # for the read models to show what the stack seeded


def cloud_facts(stack: InteropStack) -> Cloud:
    """The seeded image, a second image (tests that filter servers by image
    need two), and the compute version document's range. With real guests,
    the images are bootable ones: the guest (direct kernel boot) and the
    same guest as a whole disk."""
    with _admin_client(stack) as client:
        if stack.real_guests:
            image_ref = _image_id(client, GUEST_IMAGE_NAME)
            image_ref_alt = _image_id(client, DISK_IMAGE_NAME)
        else:
            image_ref = _image_id(client, SEED_IMAGE_NAME)
            image_ref_alt = _copy_image(client, image_ref, ALT_IMAGE_NAME)
        version = _json(client.get("/compute/v2.1/"))["version"]
        enforced = _refuses_bogus_image_data(client)
        public_network_id = _network_id(client, "public")
        extensions = _json(client.get("/networking/v2.0/extensions"))["extensions"]
    return Cloud(
        url=stack.url,
        admin_password=stack.admin_password,
        image_ref=image_ref,
        image_ref_alt=image_ref_alt,
        min_microversion=version["min_version"],
        max_microversion=version["version"],
        image_format_enforcement=enforced,
        public_network_id=public_network_id,
        network_extensions=",".join(sorted(e["alias"] for e in extensions)),
        compute_nodes=1 if stack.real_guests else 2,
        ssh_user=SSH_USER if stack.real_guests else "",
    )


def _admin_client(stack: InteropStack) -> httpx.Client:
    domain = {"name": "Default"}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": domain, "password": stack.admin_password}
                },
            },
            "scope": {"project": {"name": "admin", "domain": domain}},
        }
    }
    response = httpx.post(f"{stack.url}/identity/v3/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    token = response.headers["X-Subject-Token"]
    return httpx.Client(base_url=stack.url, headers={"X-Auth-Token": token}, timeout=60)


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _image_id(client: httpx.Client, name: str) -> str:
    return _seeded_id(client, "/image/v2/images", "images", name)


def _network_id(client: httpx.Client, name: str) -> str:
    return _seeded_id(client, "/networking/v2.0/networks", "networks", name)


def _seeded_id(client: httpx.Client, path: str, key: str, name: str) -> str:
    """The id of the one thing of that name the stack seeded. Listings come
    from read models, which may still be catching up with the seed's events
    just after the stack started (a CI run once listed no image): wait."""
    deadline = time.monotonic() + SEED_WAIT_S
    while True:
        found = _json(client.get(path, params={"name": name}))[key]
        if len(found) == 1:
            return str(found[0]["id"])
        if found or time.monotonic() > deadline:
            raise RuntimeError(f"expected one {key[:-1]} named {name}, found {len(found)}")
        time.sleep(0.2)


def _refuses_bogus_image_data(client: httpx.Client) -> bool:
    """Whether tempest's bogus image data is refused: random bytes declared
    as the one disk format tempest is given (raw), as its image listing
    tests upload them. Any other declared format would be refused."""
    created = _json(
        client.post(
            "/image/v2/images",
            json={
                "name": "interop-format-probe",
                "disk_format": "raw",
                "container_format": "bare",
            },
        )
    )
    try:
        upload = client.put(
            f"/image/v2/images/{created['id']}/file",
            content=os.urandom(4096),
            headers={"Content-Type": "application/octet-stream"},
        )
        return upload.is_client_error
    finally:
        client.delete(f"/image/v2/images/{created['id']}").raise_for_status()


def _copy_image(client: httpx.Client, source_id: str, name: str) -> str:
    """A public copy of an image's bytes under another name and id."""
    data = client.get(f"/image/v2/images/{source_id}/file")
    data.raise_for_status()
    created = _json(
        client.post(
            "/image/v2/images",
            json={
                "name": name,
                "disk_format": "qcow2",
                "container_format": "bare",
                "visibility": "public",
            },
        )
    )
    image_id = str(created["id"])
    upload = client.put(
        f"/image/v2/images/{image_id}/file",
        content=data.content,
        headers={"Content-Type": "application/octet-stream"},
    )
    upload.raise_for_status()
    _wait_active(client, image_id)
    return image_id


def _wait_active(client: httpx.Client, image_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := _json(client.get(f"/image/v2/images/{image_id}"))["status"]) != "active":
        if time.monotonic() > deadline:
            raise RuntimeError(f"image {image_id} still {status} after {timeout:g} s")
        time.sleep(0.1)
