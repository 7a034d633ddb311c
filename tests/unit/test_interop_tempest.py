"""What tempest is told about the cloud, and how tests are selected."""

from __future__ import annotations

import re
from configparser import ConfigParser
from pathlib import Path

from ops.interop_tempest import Cloud, include_list, tempest_conf

CLOUD = Cloud(
    "http://127.0.0.1:8080",
    "pw",
    "img-1",
    "img-2",
    "2.52",
    image_format_enforcement=False,
    public_network_id="net-public",
    network_extensions="external-net,router,security-group",
)


def _conf(tmp_path: Path) -> ConfigParser:
    conf = ConfigParser(interpolation=None)
    conf.read_string(tempest_conf(CLOUD, tmp_path))
    return conf


def test_tempest_is_told_which_services_and_features_exist(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    assert conf["service_available"]["neutron"] == "true"
    assert conf["auth"]["create_isolated_networks"] == "true"
    assert conf["network"]["public_network_id"] == "net-public"
    assert conf["network-feature-enabled"]["api_extensions"] == "external-net,router,security-group"
    assert conf["service_available"]["cinder"] == "true"
    features = conf["compute-feature-enabled"]
    for built in ("resize", "snapshot", "pause", "suspend", "console_output"):
        assert features[built] == "true"
    assert features["interface_attach"] == "false"
    assert conf["auth"]["use_dynamic_credentials"] == "true"
    assert (conf["auth"]["admin_username"], conf["auth"]["admin_password"]) == ("admin", "pw")
    assert conf["compute"]["max_microversion"] == "2.52"
    assert conf["image-feature-enabled"]["image_format_enforcement"] == "false"


def test_every_address_tempest_is_given_is_on_the_loopback(tmp_path: Path) -> None:
    text = tempest_conf(CLOUD, tmp_path)
    urls = re.findall(r"https?://[^\s/]+", text)
    assert urls and all(u.startswith("http://127.0.0.1:") for u in urls)


def test_the_include_list_selects_by_idempotent_id_and_by_suite(tmp_path: Path) -> None:
    path = include_list(["abc"], tmp_path / "include.txt", prefixes=["tempest.api.compute"])
    patterns = [re.compile(line) for line in path.read_text().splitlines()]
    assert patterns[0].search("tempest.api.x.Y.test_z[id-abc,smoke]")
    assert patterns[1].search("tempest.api.compute.servers.T.test[id-1]")
    assert not patterns[1].search("tempest.api.compute_x.T.test[id-1]")


def test_tempest_uploads_its_random_bytes_as_raw_the_one_format_they_are(tmp_path: Path) -> None:
    conf = _conf(tmp_path)

    assert conf["image"]["disk_formats"] == "raw"
    assert conf["image"]["container_formats"] == "bare"


def test_guests_are_logged_in_to_only_where_they_run_an_ssh_server(tmp_path: Path) -> None:
    assert _conf(tmp_path)["validation"]["run_validation"] == "false"  # test-driver domains
    assert _conf(tmp_path)["compute-feature-enabled"]["metadata_service"] == "false"
    real = Cloud(**{**vars(CLOUD), "ssh_user": "cloudledger", "compute_nodes": 1})
    conf = ConfigParser(interpolation=None)
    conf.read_string(tempest_conf(real, tmp_path))
    validation = conf["validation"]
    assert validation["run_validation"] == "true"
    assert (validation["connect_method"], validation["auth_method"]) == ("floating", "keypair")
    assert validation["image_ssh_user"] == "cloudledger"
    assert conf["compute"]["min_compute_nodes"] == "1"
    assert conf["compute-feature-enabled"]["metadata_service"] == "true"


def test_a_test_named_in_full_is_selected_in_its_own_class_only(tmp_path: Path) -> None:
    name = "tempest.api.compute.servers.test_create_server.ServersTestJSON.test_host"
    (line,) = include_list([], tmp_path / "include.txt", names=[name]).read_text().splitlines()
    pattern = re.compile(line)
    assert pattern.search(f"{name}[id-ac1ad47f,smoke]")
    assert not pattern.search(f"{name}_x[id-1]")
    subclass = name.replace("ServersTestJSON", "ServersTestManualDisk")
    assert not pattern.search(f"{subclass}[id-ac1ad47f]")
