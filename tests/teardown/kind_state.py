"""What the machine looks like from outside the kind stage: written before it starts
(hack/kind-e2e.sh: `python -m tests.teardown.kind_state OUT.json`) and compared after it ends
(tests/teardown/test_kind_left_nothing.py). Standard library only: it runs before the venv may
exist, with the machine's python3.

Recorded: every readable /proc/sys value (less the counters that move by themselves), the
machine's nftables tables, its network interfaces, whether /usr/lib/modules exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Counters and per-read values of /proc/sys that change without anyone setting them.
VOLATILE_PREFIXES = (
    "kernel/random/",
    "fs/dentry-state",
    "fs/dentry-negative",
    "fs/inode-nr",
    "fs/inode-state",
    "fs/file-nr",
    "fs/aio-nr",
    "fs/quota/",
    "kernel/ns_last_pid",
    "kernel/pty/nr",
    "net/netfilter/nf_conntrack_count",
    "kernel/tainted",
    "fs/binfmt_misc/",
    "vm/drop_caches",
)


def sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    root = Path("/proc/sys")
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if key.startswith(VOLATILE_PREFIXES) or not os.access(path, os.R_OK):
                continue
            try:
                values[key] = path.read_text(errors="replace").strip()
            except OSError:
                continue
    return values


def nft_tables() -> list[str] | None:
    if shutil.which("nft") is None:
        return None
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    return sorted(out.stdout.splitlines())


def snapshot() -> dict[str, object]:
    return {
        "sysctl": sysctls(),
        "nft_tables": nft_tables(),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "usr_lib_modules": os.path.exists("/usr/lib/modules"),
    }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
