"""Tempest for the interop run: its own venv, a workspace, a tempest.conf
that tells the truth about this cloud, and a run whose results come back
as one record per test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from configparser import ConfigParser
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

# 47.0.0 (2026-09) runs on Python 3.11 and holds every test id of the
# 2020.06 guideline (ids are stable across tempest's renames of classes).
TEMPEST_VERSION = "47.0.0"
SUBUNIT_READER = Path(__file__).with_name("interop_subunit.py")
RUN_TIMEOUT_S = 3600.0
# Only the loopback cloud: no proxy may carry a request elsewhere.
_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@dataclass(frozen=True)
class Cloud:
    """What tempest.conf says: where the cloud is and what it offers."""

    url: str
    admin_password: str
    image_ref: str
    image_ref_alt: str
    max_microversion: str
    min_microversion: str = "2.1"
    image_format_enforcement: bool = True
    flavor_ref: str = "1"
    flavor_ref_alt: str = "2"
    # The seeded external network, and the Networking extensions served.
    public_network_id: str = ""
    network_extensions: str = "all"
    compute_nodes: int = 2
    # Real guests that tempest can log in to (the guest-login run): the
    # user of the guest image's SSH server, "" when guests run nothing.
    ssh_user: str = ""


@dataclass(frozen=True)
class TempestResult:
    """One test's outcome as tempest's subunit stream told it."""

    test_id: str
    status: str  # success, fail, skip, xfail, uxsuccess
    reason: str


def ensure_tempest(venv: Path) -> Path:
    """The tempest command of ``venv``, installing the pinned release into a
    venv of its own when missing or of another version."""
    tempest = venv / "bin" / "tempest"
    stamp = venv / ".tempest-version"
    if tempest.exists() and stamp.exists() and stamp.read_text().strip() == TEMPEST_VERSION:
        return tempest
    print(f"interop: installing tempest {TEMPEST_VERSION} into {venv}", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            f"tempest=={TEMPEST_VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:  # pip's own words, only when they matter
        raise RuntimeError(f"installing tempest failed:\n{pip.stdout}{pip.stderr}")
    stamp.write_text(f"{TEMPEST_VERSION}\n")
    return tempest


def tempest_conf(cloud: Cloud, workspace: Path) -> str:
    """The configuration of a tempest run against ``cloud``: each option is
    what the cloud offers today, not what would make a test pass."""
    conf = ConfigParser(interpolation=None)
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"log_dir": str(workspace / "logs"), "log_file": "tempest.log"},
        "oslo_concurrency": {"lock_path": str(workspace / "locks")},
        "auth": {
            # Tempest makes a project and users per test class and deletes them.
            "use_dynamic_credentials": "true",
            # Each test class gets a network, subnet and router of its own.
            "create_isolated_networks": "true",
            "admin_username": "admin",
            "admin_password": cloud.admin_password,
            "admin_project_name": "admin",
            "admin_domain_name": "Default",
        },
        "identity": {
            "uri_v3": f"{cloud.url}/identity/v3",
            "auth_version": "v3",
            "region": "RegionOne",
            "v3_endpoint_type": "public",
        },
        "identity-feature-enabled": {
            "api_v2": "false",
            "api_v3": "true",
            "trust": "false",  # no OS-TRUST
            "security_compliance": "false",
        },
        "compute": {
            "image_ref": cloud.image_ref,
            "image_ref_alt": cloud.image_ref_alt,
            "flavor_ref": cloud.flavor_ref,
            "flavor_ref_alt": cloud.flavor_ref_alt,
            "min_microversion": cloud.min_microversion,
            "max_microversion": cloud.max_microversion,
            "build_interval": "1",
            "build_timeout": "60",
            "min_compute_nodes": str(cloud.compute_nodes),
        },
        "compute-feature-enabled": {
            **dict.fromkeys(("resize", "snapshot", "pause", "suspend", "console_output"), "true"),
            "enable_instance_password": "true",
            # Not built (yet): each waits for its own work.
            "interface_attach": "false",  # networking
            "attach_encrypted_volume": "false",  # block storage
            "swap_volume": "false",
            "volume_multiattach": "false",
            "shelve": "false",
            "rescue": "false",
            "change_password": "false",
            "cold_migration": "false",
            "live_migration": "false",
            # Served to guests on a network; the test driver's run none.
            "metadata_service": str(bool(cloud.ssh_user)).lower(),
            "config_drive": "false",
            "personality": "false",
            "vnc_console": "false",
            "spice_console": "false",
            "serial_console": "false",
        },
        "network": {
            "public_network_id": cloud.public_network_id,
            "floating_network_name": "public",
            "project_network_cidr": "10.100.0.0/16",
            "project_network_mask_bits": "28",
            "build_timeout": "60",
            "build_interval": "1",
        },
        "network-feature-enabled": {
            # What GET /v2.0/extensions lists (ops/interop_cloud.py), not "all".
            "api_extensions": cloud.network_extensions,
            "ipv6": "true",
            "ipv6_subnet_attributes": "false",
            "port_security": "true",
        },
        "image": {
            # Never the download site of tempest's defaults: nothing leaves 127.0.0.1.
            "http_image": f"{cloud.url}/interop-no-such-image",
            "http_qcow2_image": f"{cloud.url}/interop-no-such-image",
            "build_timeout": "60",
            # Tempest uploads random bytes as images: a valid raw image, and
            # nothing else, since every upload is inspected against its
            # declared format (docs/image-safety.md). So tempest is given raw.
            "disk_formats": "raw",
            "container_formats": "bare",
        },
        "image-feature-enabled": {
            "api_v2": "true",
            "api_v1": "false",
            "import_image": "false",
            # Found out by uploading random bytes as raw (ops/interop_cloud.py).
            "image_format_enforcement": str(cloud.image_format_enforcement).lower(),
        },
        "volume": {
            # Block Storage v3 (docs/block-storage.md): one zone, one type.
            "catalog_type": "block-storage",
            "volume_size": "1",
            "build_timeout": "60",
            "build_interval": "1",
            "storage_protocol": "iSCSI",
            "vendor_name": "Open Source",
            "disk_format": "raw",
            "min_microversion": "3.0",
            "max_microversion": "3.70",
        },
        "volume-feature-enabled": {
            "api_v3": "true",
            "clone": "true",
            "snapshot": "true",
            "backup": "false",
            "extend_attached_volume": "false",
            "manage_volume": "false",
            "manage_snapshot": "false",
            "multi_backend": "false",
            "volume_revert": "false",
            # The extensions served (api/cinder_services.py), not "all": there
            # is no os-hosts, which "all" makes tempest look for.
            "api_extensions": "os-availability-zone,os-extended-snapshot-attributes,"
            "os-quota-sets,os-services,os-types-extra-specs,os-vol-tenant-attr,"
            "os-volume-actions",
        },
        "validation": _validation(cloud),
        "service_available": {
            "nova": "true",
            "glance": "true",
            "neutron": "true",
            "cinder": "true",
            "swift": "false",
            "horizon": "false",
        },
    }
    for name, options in sections.items():
        if name != "DEFAULT":
            conf.add_section(name)
        for key, value in options.items():
            conf.set(name, key, value)
    text = StringIO()
    conf.write(text)
    return text.getvalue()


def _validation(cloud: Cloud) -> dict[str, str]:
    """Logging in to guests: only where they run an SSH server."""
    if not cloud.ssh_user:
        return {"run_validation": "false"}  # test-driver domains run nothing
    return {
        "run_validation": "true",
        # A keypair, a security group letting SSH and ping in, and a
        # floating IP on the external network, reached from the stack's
        # external namespace, where tempest runs.
        "connect_method": "floating",
        "auth_method": "keypair",
        "image_ssh_user": cloud.ssh_user,
        "image_alt_ssh_user": cloud.ssh_user,
        # Guests are emulated (TCG): a boot takes tens of seconds.
        "ssh_timeout": "300",
        "connect_timeout": "60",
    }


def init_workspace(tempest: Path, workspace: Path, cloud: Cloud) -> Path:
    """A tempest workspace: the .stestr.conf that `tempest init` would write
    (without its registry in $HOME) and our tempest.conf; returns the conf."""
    package = subprocess.run(
        [str(tempest.with_name("python")), "-c", "import tempest; print(tempest.__path__[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (workspace / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={package}/test_discover\ntop_dir={package}\n"
        "group_regex=([^\\.]*\\.)*\n"
    )
    for folder in ("locks", "logs", "etc"):
        (workspace / folder).mkdir(exist_ok=True)
    conf = workspace / "etc" / "tempest.conf"
    conf.write_text(tempest_conf(cloud, workspace))
    conf.chmod(0o600)  # it holds the admin password
    return conf


def tempest_env(workspace: Path) -> dict[str, str]:
    """Tempest's environment: our conf, $HOME in the workspace (tempest
    makes ~/.tempest), and no proxy that could carry a request elsewhere."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env["TEMPEST_CONFIG_DIR"] = str(workspace / "etc")
    env["HOME"] = str(workspace)
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def run_tempest(
    tempest: Path,
    workspace: Path,
    include_list: Path,
    concurrency: int,
    wrapper: Sequence[str] = (),
) -> list[TempestResult]:
    """``tempest run`` of the tests the include list names, its progress on
    our stdout; then every test's outcome, read back from its subunit stream.
    ``wrapper``: what to run tempest under (`ip netns exec NAME`)."""
    env = tempest_env(workspace)
    subprocess.run(
        [
            *wrapper,
            str(tempest),
            "run",
            "--include-list",
            str(include_list),
            "--concurrency",
            str(concurrency),
        ],
        cwd=workspace,
        env=env,
        check=False,  # failures are counted below, against the expected ones
        timeout=RUN_TIMEOUT_S,
    )
    stream = subprocess.run(
        [str(tempest.with_name("stestr")), "last", "--subunit"],
        cwd=workspace,
        env=env,
        capture_output=True,
        check=False,
    ).stdout
    return read_results(tempest.with_name("python"), stream)


def list_tests(tempest: Path, workspace: Path, include_list: Path) -> list[str]:
    """The ids of the tests the include list selects (with their attributes)."""
    if not (workspace / ".stestr").exists():  # listing needs the repository `tempest run` makes
        stestr = str(tempest.with_name("stestr"))
        subprocess.run([stestr, "init"], cwd=workspace, capture_output=True, check=True)
    listed = subprocess.run(
        [str(tempest), "run", "--list-tests", "--include-list", str(include_list)],
        cwd=workspace,
        env=tempest_env(workspace),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.strip() for line in listed.splitlines() if line.startswith("tempest.")]


def read_results(python: Path, stream: bytes) -> list[TempestResult]:
    """Parse a subunit v2 stream with the tempest venv's own subunit library."""
    out = subprocess.run(
        [str(python), str(SUBUNIT_READER)], input=stream, capture_output=True, check=True
    ).stdout
    records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return [TempestResult(r["id"], r["status"], r["reason"]) for r in records]


def include_list(
    test_ids: Sequence[str],
    path: Path,
    prefixes: Sequence[str] = (),
    names: Sequence[str] = (),
) -> Path:
    """A tempest include list selecting exactly these idempotent ids (in
    every class that has them), every test under these module prefixes,
    and these tests by full name (in their own class only)."""
    lines = [f"id-{uuid}\n" for uuid in test_ids]
    lines += ["^" + prefix.replace(".", "\\.") + "\\.\n" for prefix in prefixes]
    lines += ["^" + re.escape(name) + "\\[\n" for name in names]
    path.write_text("".join(lines))
    return path
