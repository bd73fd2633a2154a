#!/bin/bash
# The kind node's entrypoint on these machines, before kind's own (/usr/local/bin/entrypoint).
# A privileged container sees the machine's /proc/sys, and the kubelet insists on a few kernel
# settings that are not namespaced: left alone it would write them machine-wide. With
# protectKernelDefaults: true (the kind config's kubelet patch) it only reads them and fails when
# they differ, so each differing key is hidden, inside this node's mount namespace only, behind a
# read-only file holding the value the kubelet expects. The machine's settings stay as they are.
set -euo pipefail
shadow() {  # KEY VALUE: inside this node, KEY reads VALUE and cannot be written
  local key=$1 want=$2 path=/proc/sys/${1//.//}
  mkdir -p /kind/sysctl
  echo "$want" > "/kind/sysctl/$key"
  mount --bind "/kind/sysctl/$key" "$path"
  mount -o remount,bind,ro "$path"
}
hide() { [[ $(<"/proc/sys/${1//.//}") == "$2" ]] || shadow "$1" "$2"; }
# systemd, the node's PID 1, raises these to their maximum at boot (bump_file_max_and_nr_open),
# machine-wide: seen on a new machine, fs.file-max went from 2466239 to 2^63-1 (caught by
# tests/teardown/test_kind_left_nothing.py). Kept at the machine's values; systemd logs the
# refused write and goes on.
shadow fs.file-max "$(</proc/sys/fs/file-max)"
shadow fs.nr_open "$(</proc/sys/fs/nr_open)"
# The kubelet's list (pkg/kubelet/cm: setupKernelTunables).
hide vm.overcommit_memory 1
hide vm.panic_on_oom 0
hide kernel.panic 10
hide kernel.panic_on_oops 1
hide kernel.keys.root_maxkeys 1000000
hide kernel.keys.root_maxbytes 25000000
exec /usr/local/bin/entrypoint "$@"
