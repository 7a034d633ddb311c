"""Node files for libvirt's built-in test driver: a fake host of a chosen size."""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

# The module name matches pytest's test-file pattern; it holds no tests.
__test__ = False


def node_xml(*, cpus: int, memory_mb: int) -> str:
    """Return node XML for a single-socket host with no predefined domains.

    The test driver reports cpus = min(active, nodes*sockets*cores*threads),
    so both `active` and `cores` carry the CPU count. Memory is in KiB.
    """
    if cpus < 1 or memory_mb < 1:
        raise ValueError("a test node needs at least one cpu and 1 MiB")
    node = ET.Element("node")
    cpu = ET.SubElement(node, "cpu")
    for tag, value in (
        ("mhz", "2000"),
        ("model", "x86_64"),
        ("active", str(cpus)),
        ("nodes", "1"),
        ("sockets", "1"),
        ("cores", str(cpus)),
        ("threads", "1"),
    ):
        ET.SubElement(cpu, tag).text = value
    ET.SubElement(node, "memory").text = str(memory_mb * 1024)
    return ET.tostring(node, encoding="unicode")


def write_test_node(path: Path, *, cpus: int, memory_mb: int) -> str:
    """Write a test-driver node file at `path` and return its libvirt URI.

    Each libvirt.open() of the URI starts from a fresh copy of this empty
    host, and its state lives only in that connection.
    """
    absolute = path.resolve()
    absolute.write_text(node_xml(cpus=cpus, memory_mb=memory_mb))
    # libvirt parses the URI strictly: spaces and '%' must be escaped.
    return "test://" + urllib.parse.quote(str(absolute))
