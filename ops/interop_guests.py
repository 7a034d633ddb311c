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
import time
from collections.abc import Sequence
from pathlib import Path

from ops.interop_bridge import api_in_namespace
from ops.interop_cloud import cloud_facts
from ops.interop_stack import own_stack
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


def run_guest_login(
    tempest: Path, workspace: Path, names: Sequence[str] = GUEST_LOGIN_TESTS
) -> list[TempestResult]:
    """A fresh workspace, a stack of real guests, the tests; their results."""
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    selection = include_list([], workspace / "include.txt", names=names)
    began = time.monotonic()
    # Kept beside the workspace: the kernel and initramfs take ~10 s to build.
    with own_stack(real_guests=True, image_cache=workspace.parent / "guest-images") as stack:
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
