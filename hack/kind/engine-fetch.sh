#!/usr/bin/env bash
# The container engine for the kind stage, from Debian's own packages, never installed:
# `apt-get install docker.io` would start dockerd in the machine's namespaces (and its iptables)
# from the package's post-install, so the packages are downloaded and unpacked into the cache.
# Prints the folder; its bin/ holds docker, dockerd, containerd, runc, iptables (nft backend).
# Cached by the candidate versions apt offers: a second run takes a second.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2

# docker.io and what it needs that a minimal machine may lack (the libraries go on
# LD_LIBRARY_PATH of the engine only).
PACKAGES=(docker.io containerd runc tini iptables libip4tc2 libip6tc2 libxtables12 libnftnl11
  libnetfilter-conntrack3 libnfnetlink0 libmnl0 libdevmapper1.02.1)
RECIPE=1

# One apt-cache call (about a second each): package=version lines, in PACKAGES' order.
candidates() {
  apt-cache show --no-all-versions "${PACKAGES[@]}" 2>/dev/null | awk '/^Package:/ { p = $2 } /^Version:/ { print p "=" $2 }'
}
versions=$(candidates)
if (($(wc -l <<<"$versions") != ${#PACKAGES[@]})); then
  # A new machine may have no package lists yet: read them once (nothing is installed).
  log "apt has no candidates for some packages yet: apt-get update"
  apt-get update -qq > /dev/null 2>&1 || true
  versions=$(candidates)
fi
(($(wc -l <<<"$versions") == ${#PACKAGES[@]})) || die "apt knows candidates for only: $(tr '\n' ' ' <<<"$versions") (apt-get update?)"
key=$(printf '%s\n%s\n' "$versions" "$RECIPE" | sha256sum | cut -c1-16)
dir=$KIND_CACHE/engine-$key
if [[ ! -f $dir/.complete ]]; then
  log "downloading the engine's Debian packages into $dir"
  rm -rf "$dir"
  mkdir -p "$dir/debs" "$dir/root" "$dir/bin"
  # shellcheck disable=SC2046  # one word per package=version
  (cd "$dir/debs" && apt-get download -q $(tr '\n' ' ' <<<"$versions")) > "$dir/download.log" 2>&1 \
    || die "apt-get download failed (log: $dir/download.log)"
  for deb in "$dir/debs"/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  # The links update-alternatives would make on an install, and one folder for PATH.
  for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s ../root/usr/sbin/xtables-nft-multi "$dir/bin/$tool"
  done
  for f in "$dir"/root/usr/bin/* "$dir"/root/usr/sbin/*; do
    [[ -e $dir/bin/$(basename "$f") ]] || ln -s "../root/${f#"$dir/root/"}" "$dir/bin/"
  done
  echo "$versions" > "$dir/versions.txt"
  touch "$dir/.complete"
fi
echo "$dir" >&3
