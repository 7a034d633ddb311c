"""The guest's SSH server as the init starts it: after the metadata fetch,
for the key and host name it gave; and the libraries a binary needs, as
ldd resolves them (a real guest logs in in tests/e2e/test_real_networking.py
and in `make interop`'s guest-login run)."""

from pathlib import Path

import pytest

from ops.guest_images import INIT
from ops.guest_ssh import PASSWD, SSH_READY_LINE, SSH_USER, shared_libraries


def test_the_ssh_server_starts_after_the_metadata_gave_the_key_and_the_name() -> None:
    fetched = INIT.index("key=$(fetch public-keys/0/openssh-key)")
    assert INIT.index('hostname "$name"') < fetched
    authorized = INIT.index(f"> /home/{SSH_USER}/.ssh/authorized_keys")
    started = INIT.index("/usr/sbin/dropbear -R -E -s -p 22")
    assert fetched < authorized < started < INIT.index(SSH_READY_LINE)
    # the entropy pool is filled before dropbear asks for it
    assert INIT.index("if=/dev/random") < started


def test_the_user_has_a_shell_and_no_password_and_is_not_locked() -> None:
    (line,) = [entry for entry in PASSWD.splitlines() if entry.startswith(f"{SSH_USER}:")]
    _, password, uid, gid, _, home, shell = line.split(":")
    assert (password, shell, home) == ("*", "/bin/sh", f"/home/{SSH_USER}")
    assert uid == gid != "0"


def test_the_libraries_of_a_binary_are_found_with_its_loader(tmp_path: Path) -> None:
    found = shared_libraries(Path("/bin/ls"), tmp_path)
    names = {p.name for p in found}
    assert "libc.so.6" in names and "ld-linux-x86-64.so.2" in names
    assert all(p.exists() for p in found)


def test_a_library_nobody_has_is_an_error(tmp_path: Path) -> None:
    # A copy of ls that needs a library no one has (its NEEDED entry renamed).
    binary = tmp_path / "ls"
    binary.write_bytes(Path("/bin/ls").read_bytes().replace(b"libc.so.6", b"libq.so.6"))
    binary.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"libq\.so\.6"):
        shared_libraries(binary, tmp_path)
