"""The guest-login run of `make interop`: the guideline's tests that log in
to a guest over SSH (tempest's "validation"), on a stack of real guests.

The main run's stack has libvirt's test-driver domains, which run nothing,
so these tests go to a second, small stack: one host of real QEMU guests
(TCG) on the real network driver (bridges, dnsmasq, NAT, the metadata
service, in namespaces the stack makes), whose guest image runs an SSH
server for the key the metadata service gives (ops/guest_ssh.py). Tempest
runs inside the stack's external namespace, the outside world floating IPs
are reached from, with the API carried in (ops/interop_bridge.py)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ops.guest_disk import ensure_whole_disk
from ops.guest_images import ensure_guest_images
from ops.interop_bridge import api_in_namespace
from ops.interop_cloud import cloud_facts
from ops.interop_stack import fresh_images, own_stack
from ops.interop_tempest import TempestResult, include_list, init_workspace, run_tempest

# Required tests that tempest skips unless it may log in to guests. Run by
# full name: the same ids in the class's subclasses (manual disk config,
# boot from volume) would boot a guest each for the same check.
GUEST_LOGIN_TESTS = (
    "tempest.api.compute.servers.test_create_server.ServersTestJSON"
    ".test_host_name_is_same_as_server_name",
    "tempest.api.compute.servers.test_create_server.ServersTestJSON"
    ".test_verify_created_server_vcpus",
)


def image_cache(workspace: Path) -> Path:
    """Where the guest images are kept between runs, beside the workspace:
    building them takes 10 s on a quiet machine, up to a minute on a busy one."""
    return workspace.parent / "guest-images"


def build_images_ahead(cache: Path) -> threading.Thread:
    """Build the guest images into ``cache`` in a thread while the main run
    goes (mostly downloading and unpacking, which leaves the cores to it),
    so that the real-guest stack starts with them. Should it fail, the
    stack builds them itself."""

    def build() -> None:
        if not fresh_images(cache):  # a whole disk holds the initramfs: made again with it
            (cache / "whole-disk.qcow2").unlink(missing_ok=True)
        try:
            ensure_whole_disk(cache, ensure_guest_images(cache))
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"interop: the guest images were not built ahead: {exc}", flush=True)

    thread = threading.Thread(target=build, name="guest-images", daemon=True)
    thread.start()
    return thread


def run_guest_login(
    tempest: Path,
    workspace: Path,
    names: Sequence[str] = GUEST_LOGIN_TESTS,
    images_ahead: threading.Thread | None = None,
) -> list[TempestResult]:
    """A fresh workspace, a stack of real guests, the tests; their results.
    ``images_ahead``: the thread building the guest images, waited for."""
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    selection = include_list([], workspace / "include.txt", names=names)
    if images_ahead is not None:
        images_ahead.join()
    began = time.monotonic()
    with own_stack(real_guests=True, image_cache=image_cache(workspace)) as stack:
        init_workspace(tempest, workspace, cloud_facts(stack))
        print(
            f"interop: real-guest stack up and tempest.conf written in "
            f"{time.monotonic() - began:.0f} s",
            flush=True,
        )
        namespace = stack.external_namespace
        began = time.monotonic()
        with api_in_namespace(namespace, stack.port):
            # One class, one guest: nothing to share between two workers.
            wrapper = ("ip", "netns", "exec", namespace)
            results = run_tempest(tempest, workspace, selection, 1, wrapper=wrapper)
        print(f"interop: guest-login tempest run in {time.monotonic() - began:.0f} s", flush=True)
    return results
