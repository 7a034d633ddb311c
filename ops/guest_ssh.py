"""The guest's SSH server: Debian's dropbear, unpacked from its package (and
the two libraries Debian builds it against) with ``dpkg-deb -x``, never
installed, and put in the initramfs with every shared library ``ldd`` finds
it needs. At boot the init authorizes the public key the metadata service
gives (the key the server was booted with) for one user, SSH_USER, and
starts dropbear on port 22: what tempest's "validation" logs in to."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

SSH_USER = "cloudledger"
SSH_UID = 1000
# dropbear-bin's own libraries; libc, libcrypt, zlib and gmp come from this
# machine (the same Debian release), found by ldd.
DROPBEAR_PACKAGES = ("dropbear-bin", "libtomcrypt1", "libtommath1")
DROPBEAR = "usr/sbin/dropbear"
SSH_READY_LINE = f"cloudledger-guest: ssh server on port 22, user {SSH_USER}"

# "*" is no password at all (dropbear refuses a "!" as a locked account).
PASSWD = (
    f"root:*:0:0:root:/root:/bin/sh\n{SSH_USER}:*:{SSH_UID}:{SSH_UID}::/home/{SSH_USER}:/bin/sh\n"
)
GROUP = f"root:x:0:\n{SSH_USER}:x:{SSH_UID}:\n"

# The init's lines after the metadata fetch ($key: the key it gave, maybe
# none). dropbear makes its host key on the first connection (-R), logs
# to the console (-E), and takes keys only (-s: no passwords).
SSH_INIT = f"""
if [ -x /{DROPBEAR} ]; then
    mkdir -p /dev/pts /etc/dropbear /var/run /home/{SSH_USER}/.ssh
    mount -t devpts devpts /dev/pts
    if [ -n "$key" ]; then
        echo "$key" > /home/{SSH_USER}/.ssh/authorized_keys
    fi
    chmod 700 /home/{SSH_USER} /home/{SSH_USER}/.ssh
    chown -R {SSH_UID}:{SSH_UID} /home/{SSH_USER}
    # A blocking read of /dev/random makes the kernel gather jitter entropy
    # now: without it, dropbear waits for the pool (~25 s under TCG).
    dd if=/dev/random of=/dev/null bs=1 count=1 2>/dev/null
    /{DROPBEAR} -R -E -s -p 22
    echo "{SSH_READY_LINE}"
fi
"""


def add_ssh_server(root: Path, download: Callable[[str, Path], Path]) -> None:
    """Put dropbear, its libraries and the user's files under ``root``
    (an initramfs tree); ``download`` fetches a package's .deb into a folder."""
    with tempfile.TemporaryDirectory(dir=root.parent) as scratch:
        work = Path(scratch)
        tree = work / "tree"
        for package in DROPBEAR_PACKAGES:
            deb = download(package, work)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        binary = root / DROPBEAR
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / DROPBEAR, binary)
        own_libs = tree / "usr" / "lib" / "x86_64-linux-gnu"
        for path in shared_libraries(tree / DROPBEAR, own_libs):
            # The loader where the binary names it, the rest where it looks;
            # each under the name asked for, whatever symlink led there.
            if path.is_relative_to("/lib64"):
                target = root / path.relative_to("/")
            else:
                target = root / "lib" / "x86_64-linux-gnu" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path.resolve(), target)
            target.chmod(0o755)
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "shells").write_text("/bin/sh\n")
    (root / "home" / SSH_USER / ".ssh").mkdir(parents=True)
    (root / "root").mkdir(exist_ok=True)


def shared_libraries(binary: Path, extra_dir: Path) -> list[Path]:
    """Every library ``binary`` loads (its loader too), as ldd resolves them
    with ``extra_dir`` searched first; an unresolved one is an error."""
    env = {**os.environ, "LD_LIBRARY_PATH": str(extra_dir)}
    out = subprocess.run(
        ["ldd", str(binary)], env=env, capture_output=True, text=True, check=True
    ).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        if "not found" in line:
            raise RuntimeError(f"{binary.name} needs {words[0]}, which ldd did not find")
        if "=>" in words and len(words) >= 3 and words[2].startswith("/"):
            found.append(Path(words[2]))
        elif words and words[0].startswith("/"):  # the loader, by absolute path
            found.append(Path(words[0]))
    return found
