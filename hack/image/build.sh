#!/usr/bin/env bash
# Builds the operator's container image without Docker and without a registry:
#   registry.local/podgroup-operator:<version from pyproject.toml>
# as an OCI image layout tarball, and prints its path:
#   $PGO_CACHE/image/podgroup-operator-<version>.tar
# Load it into the local cluster's real node with hack/image/load.sh. (The Dockerfile builds the
# same image for users who have Docker.)
#
# Two layers:
#   base  Debian bookworm (debootstrap --variant=minbase, from Debian's packages, with the
#         current bookworm-updates/-security packages) + python3; user 65532 "nonroot".
#         Cached under $PGO_CACHE/image/base-<key>/ (key: suite, mirror, packages, recipe);
#         made once (a few minutes), reused by every later build.
#   app   /opt/podgroup-operator: a venv with the project's wheel and its dependencies, all
#         pinned with hashes in hack/image/requirements.txt (hack/image/lock.py). Rebuilt on
#         each run (seconds): the wheelhouse is cached, the project's wheel is built fresh.
#
# Reproducible enough: a layer is a pure function of its folder (sorted entries, clamped
# mtimes, numeric owners, fixed gzip header; Python's bytecode is compiled as unchecked-hash
# .pyc, independent of mtimes). The app layer depends only on the source tree, the locked
# wheels and the cached base: two builds of one commit give the same image digest. The base
# depends on what the mirror served the day it was made; it records its package list in
# /var/lib/dpkg/status like any Debian system. REFRESH_BASE=1 makes it again (new security
# updates).
#
# Needs root (debootstrap, chroot), debootstrap (hack/node/install-deps.sh installs it) and network access
# to a Debian mirror and to PyPI. Environment:
#   PGO_CACHE        cache root (~/.cache/podgroup-operator)
#   IMAGE_REF        image reference (registry.local/podgroup-operator:<version>)
#   DEBIAN_MIRROR    default: the bookworm mirror in /etc/apt/sources.list*, else deb.debian.org
#   DEBIAN_SECURITY_MIRROR   likewise for bookworm-security
#   SOURCE_DATE_EPOCH        the app layer's clamp time (default: the last commit's time)
#   REFRESH_BASE=1   rebuild the base layer even when cached
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${PGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-operator}
work=$cache/image
# The host's Python runs the build tools (standard library only) and pip downloads.
host_python=${HOST_PYTHON:-$(command -v python3)}
pip_version=26.3   # the pip that installs into the image's venv (not kept in the image)

SUITE=bookworm
BASE_PACKAGES=python3
BASE_RECIPE=3        # bump when the base steps below change: the cache key changes with it
BASE_EPOCH=1767225600  # 2026-01-01T00:00:00Z: the base layer's clamp time
VENV=/opt/podgroup-operator
UID_GID=65532

# Only the tarball's path goes to stdout (fd 3); everything the steps print goes to stderr.
exec 3>&1 1>&2
log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

((EUID == 0)) || die "needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || "$repo/hack/node/install-deps.sh" || die "debootstrap is missing: apt-get install debootstrap"

version=$("$host_python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$repo/pyproject.toml")
IMAGE_REF=${IMAGE_REF:-registry.local/podgroup-operator:$version}
"$host_python" "$here/lock.py" --check || die "hack/image/requirements.txt does not match pyproject.toml: run hack/image/lock.py"

# mirror_for SUFFIX: the URI apt uses for bookworm$SUFFIX (deb822 .sources or one-line lists).
mirror_for() {
  local suite=$SUITE$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (uris && has) { print uris; exit } uris = ""; has = 0; next }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
      END { if (uris && has) print uris }' "$f"
  done | head -1 | grep . && return
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' | grep .
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(mirror_for "" || echo http://deb.debian.org/debian)}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(mirror_for -security || echo http://deb.debian.org/debian-security)}

mkdir -p "$work"
exec 9>"$work/.lock"
flock 9 || die "another build holds $work/.lock"

# in_root ROOTFS CMD...: CMD chrooted into ROOTFS, in a private mount namespace (every mount
# made there vanishes with it), with a clean environment.
in_root() {
  local root=$1; shift
  unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 "$@"
}

# ------------------------------------------------------------------ base layer (cached)

base_key=$(printf '%s\n' "$SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "$BASE_PACKAGES" "$BASE_RECIPE" "$BASE_EPOCH" \
  | sha256sum | cut -c1-16)
base=$work/base-$base_key
rootfs=$base/rootfs

make_base() {
  local t0=$SECONDS
  log "making the base rootfs (debootstrap $SUITE from $DEBIAN_MIRROR); once per cache key $base_key"
  rm -rf "$base"
  mkdir -p "$base" "$work/debs"
  # Its /proc and /sys mounts in the target stay inside this private mount namespace.
  unshare --mount --propagation private -- \
    debootstrap --variant=minbase --include="$BASE_PACKAGES" --cache-dir="$work/debs" \
      "$SUITE" "$rootfs" "$DEBIAN_MIRROR" > "$base/debootstrap.log" 2>&1 \
    || die "debootstrap failed (log: $base/debootstrap.log)"
  # Security and point-release updates, from the same mirrors.
  cat > "$rootfs/etc/apt/sources.list" <<LIST
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $SUITE-security main
LIST
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  if ! { in_root "$rootfs" apt-get -qq -o APT::Sandbox::User=root update \
      && in_root "$rootfs" apt-get -qq -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 upgrade -y; } >> "$base/debootstrap.log" 2>&1; then
    die "apt-get upgrade in the base failed (log: $base/debootstrap.log)"
  fi
  in_root "$rootfs" apt-get -qq clean
  # Slim and deterministic: no caches, logs, docs (license files stay), host details.
  (
    cd "$rootfs"
    rm -rf var/cache/apt/* var/lib/apt/lists/* var/log/* var/cache/debconf/*-old var/lib/dpkg/*-old \
      var/cache/ldconfig/aux-cache usr/share/man/* usr/share/info/* usr/share/locale/* usr/share/lintian \
      etc/resolv.conf etc/hostname etc/hosts tmp/* root/.cache
    find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    : > etc/machine-id
    # The user the operator runs as (distroless' "nonroot").
    grep -q "^nonroot:" etc/passwd || echo "nonroot:x:$UID_GID:$UID_GID:nonroot:/home/nonroot:/usr/sbin/nologin" >> etc/passwd
    grep -q "^nonroot:" etc/group || echo "nonroot:x:$UID_GID:" >> etc/group
    grep -q "^nonroot:" etc/shadow || echo "nonroot:!:19000::::::" >> etc/shadow
    install -d -m 0750 -o "$UID_GID" -g "$UID_GID" home/nonroot
  )
  # Bytecode that does not depend on mtimes: the stdlib's .pyc as unchecked-hash.
  find "$rootfs/usr/lib/python3"* -name __pycache__ -type d -prune -exec rm -rf {} +
  in_root "$rootfs" python3 -m compileall -q -j1 --invalidation-mode unchecked-hash /usr/lib/python3 /usr/lib/python3.11 \
    > /dev/null || die "compileall failed in the base"
  # shellcheck disable=SC2016  # dpkg-query's own ${...} format
  in_root "$rootfs" dpkg-query -W -f '${Package}=${Version}\n' > "$base/packages.txt"
  log "base rootfs ready in $((SECONDS - t0))s ($(du -sh "$rootfs" | cut -f1)); writing its layer"
  "$host_python" "$here/oci_image.py" layer --root "$rootfs" --epoch "$BASE_EPOCH" \
    --exclude-contents dev --exclude-contents proc --exclude-contents sys --exclude-contents run \
    --exclude-contents opt --out "$base/layer.tar.gz" > "$base/layer.tar.gz.json.tmp"
  mv "$base/layer.tar.gz.json.tmp" "$base/layer.tar.gz.json"
  log "base layer $(cut -c1-120 "$base/layer.tar.gz.json") in $((SECONDS - t0))s"
}

if [[ ${REFRESH_BASE:-0} == 1 || ! -s $base/layer.tar.gz.json ]]; then
  make_base
else
  log "base $base_key cached ($(wc -l < "$base/packages.txt") Debian packages)"
fi

# ------------------------------------------------------------------ app layer

t0=$SECONDS
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo "$BASE_EPOCH")}
export SOURCE_DATE_EPOCH
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- pyproject.toml README.md operator 2>/dev/null || revision+="-dirty"

# The wheelhouse: every locked dependency (hash-checked) and the pip that installs them.
lock_hash=$(cat "$here/requirements.txt" <(echo "pip==$pip_version") | sha256sum | cut -c1-16)
wheels=$work/wheels-$lock_hash
if [[ ! -f $wheels/.complete ]]; then
  log "downloading the locked wheels into $wheels"
  rm -rf "$wheels"
  mkdir -p "$wheels/deps" "$wheels/pip"
  platforms=(--platform=manylinux2014_x86_64)
  for m in $(seq 36 -1 17); do platforms+=("--platform=manylinux_2_${m}_x86_64"); done
  "$host_python" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --python-version 3.11 --implementation cp "${platforms[@]}" \
    -r "$here/requirements.txt" -d "$wheels/deps"
  "$host_python" -m pip download --quiet --no-deps --only-binary=:all: "pip==$pip_version" -d "$wheels/pip"
  touch "$wheels/.complete"
fi

# The project's wheel, built from a copy of the source (nothing is written into the repo).
stage=$work/stage
rm -rf "$stage"
mkdir -p "$stage/src" "$stage/wheels"
tar -C "$repo" --exclude=__pycache__ --exclude='*.egg-info' -cf - pyproject.toml README.md operator | tar -C "$stage/src" -xf -
"$host_python" -m pip wheel --quiet --no-deps --wheel-dir "$stage/wheels" "$stage/src" > "$stage/wheel.log" 2>&1 \
  || die "building the project's wheel failed: $(tail -5 "$stage/wheel.log")"
cp "$wheels/deps/"*.whl "$stage/wheels/"
pip_whl=$(ls "$wheels/pip/"pip-*.whl)

# The venv, made inside the base rootfs (its python3 is the interpreter), installed from the
# wheelhouse bind-mounted at /mnt, then taken out again: only /opt/podgroup-operator goes in
# the app layer, and the cached rootfs stays as the base layer recorded it.
rm -rf "${rootfs:?}$VENV"
cleanup() { rm -rf "${rootfs:?}$VENV"; }
trap cleanup EXIT
# shellcheck disable=SC2016  # the script's variables are its own positional arguments
unshare --mount --propagation private -- bash -euo pipefail -c '
  root=$1 wheels=$2 pip_whl=$3 venv=$4
  mount --bind "$wheels" "$root/mnt"
  cp "$pip_whl" "$wheels/"
  run() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 "$@"
  }
  run python3 -m venv --without-pip "$venv"
  pip="/mnt/$(basename "$pip_whl")/pip"
  run "$venv/bin/python" "$pip" install --quiet --no-index --no-deps --no-compile \
    $(cd "$wheels" && ls *.whl | grep -v "^pip-" | sed "s|^|/mnt/|")
  run "$venv/bin/python" "$pip" check
  run "$venv/bin/python" -m compileall -q -j1 --invalidation-mode unchecked-hash "$venv/lib"
  run "$venv/bin/podgroup-operator" --help > /dev/null
' _ "$rootfs" "$stage/wheels" "$pip_whl" "$VENV" || die "installing into the venv failed"
# (pip's direct_url.json records the wheel as file:///mnt/<wheel>: a fixed path, deterministic.)

"$host_python" "$here/oci_image.py" layer --root "$rootfs" --only "${VENV#/}" --epoch "$SOURCE_DATE_EPOCH" \
  --out "$stage/app.tar.gz" > "$stage/app.tar.gz.json"
cleanup

created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
"$host_python" - "$stage/config.json" <<PY
import json, sys
config = {
    "created": "$created",
    "config": {
        "User": "$UID_GID:$UID_GID",
        "Env": [
            "PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
            "HOME=/home/nonroot",
        ],
        "Entrypoint": ["$VENV/bin/podgroup-operator", "run"],
        "WorkingDir": "/home/nonroot",
        "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
        "Labels": {
            "org.opencontainers.image.title": "podgroup-operator",
            "org.opencontainers.image.version": "$version",
            "org.opencontainers.image.revision": "$revision",
            "org.opencontainers.image.licenses": "Apache-2.0",
            "org.opencontainers.image.base.name": "debian:$SUITE (debootstrap minbase + python3)",
        },
    },
    "history": [
        {"created": "1970-01-01T00:00:00Z", "created_by": "hack/image/build.sh: debootstrap --variant=minbase $SUITE + $BASE_PACKAGES, upgraded; user $UID_GID"},
        {"created": "$created", "created_by": "hack/image/build.sh: venv $VENV with the project wheel and hack/image/requirements.txt"},
    ],
}
json.dump(config, open(sys.argv[1], "w"), indent=1, sort_keys=True)
PY

out=$work/podgroup-operator-$version.tar
digest=$("$host_python" "$here/oci_image.py" image --layer "$base/layer.tar.gz.json" --layer "$stage/app.tar.gz.json" \
  --config "$stage/config.json" --ref "$IMAGE_REF" --out "$out")
echo "$digest" > "$out.digest"
log "$IMAGE_REF $digest: $(du -h "$out" | cut -f1) (app layer $(du -h "$stage/app.tar.gz" | cut -f1), built in $((SECONDS - t0))s)"
echo "$out" >&3
