#!/usr/bin/env python3
"""Writes a single-layer OCI image layout tarball (what `ctr images import` reads).

No docker, no registry: the layer is a tar built here from a static busybox binary, the
config and manifest are JSON, and every blob is named by its sha256. The output is
deterministic (fixed mtimes, owners and order), so the same inputs always give the same
digests: two builds of one image are byte-identical, and two references listed in one
tarball name the same stored image.

usage: oci.py --busybox /bin/busybox --out image.tar --ref registry.local/x:1 [--ref ...]
              --entrypoint JSON [--cmd JSON] [--file /host/path:/image/path ...]

--file adds a program (a static binary) to the same single layer, e.g. etcd for an etcd image.
"""
import argparse
import hashlib
import io
import json
import subprocess
import tarfile

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLATFORM = {"architecture": "amd64", "os": "linux"}


def tar_info(name, kind, mode, **extra):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def busybox_layer(busybox, extra_files=()):
    """An uncompressed rootfs tar: /bin/busybox, a symlink per applet, /etc basics, /tmp, and
    each (host path, image path) of extra_files as an executable."""
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    with open(busybox, "rb") as f:
        binary = f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin"):
            tar.addfile(tar_info(d, tarfile.DIRTYPE, 0o755))
        tar.addfile(tar_info("tmp", tarfile.DIRTYPE, 0o1777))
        tar.addfile(tar_info("bin/busybox", tarfile.REGTYPE, 0o755, size=len(binary)), io.BytesIO(binary))
        for applet in sorted(set(applets) - {"busybox"}):
            tar.addfile(tar_info("bin/" + applet, tarfile.SYMTYPE, 0o777, linkname="busybox"))
        tar.addfile(tar_info("usr/bin/env", tarfile.SYMTYPE, 0o777, linkname="/bin/busybox"))
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        }
        for name, text in files.items():
            data = text.encode()
            tar.addfile(tar_info(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
        made = {"bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "tmp"}
        for source, target in extra_files:
            parts = target.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    tar.addfile(tar_info(d, tarfile.DIRTYPE, 0o755))
                    made.add(d)
            with open(source, "rb") as f:
                data = f.read()
            tar.addfile(tar_info("/".join(parts), tarfile.REGTYPE, 0o755, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def blob(data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}, data


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build(busybox, refs, entrypoint, cmd, extra_files=()):
    layer = busybox_layer(busybox, extra_files)
    layer_desc, _ = blob(layer, "application/vnd.oci.image.layer.v1.tar")
    config = {
        **PLATFORM,
        "config": {"Env": [PATH_ENV], "Entrypoint": entrypoint, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},  # uncompressed: digest == diff_id
        "history": [{"created_by": "hack/images/oci.py from Debian busybox-static"}],
    }
    if cmd is not None:
        config["config"]["Cmd"] = cmd
    config_desc, config_data = blob(canonical(config), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc, manifest_data = blob(canonical(manifest), "application/vnd.oci.image.manifest.v1+json")
    # One index entry per reference, all pointing at the same manifest digest.
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                **manifest_desc,
                "platform": PLATFORM,
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                },
            }
            for ref in refs
        ],
    }
    blobs = {d["digest"]: data for d, data in ((layer_desc, layer), (config_desc, config_data), (manifest_desc, manifest_data))}
    return index, blobs, manifest_desc["digest"]


def write_layout(out, index, blobs):
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            tar.addfile(tar_info(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))

        for d in ("blobs", "blobs/sha256"):
            tar.addfile(tar_info(d, tarfile.DIRTYPE, 0o755))
        for digest in sorted(blobs):
            add("blobs/sha256/" + digest.split(":", 1)[1], blobs[digest])
        add("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))
        add("index.json", canonical(index))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busybox", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ref", action="append", required=True)
    parser.add_argument("--entrypoint", required=True, type=json.loads)
    parser.add_argument("--cmd", type=json.loads)
    parser.add_argument("--file", action="append", default=[], help="HOST_PATH:IMAGE_PATH")
    args = parser.parse_args()
    files = [tuple(f.split(":", 1)) for f in args.file]
    index, blobs, digest = build(args.busybox, args.ref, args.entrypoint, args.cmd, files)
    write_layout(args.out, index, blobs)
    print(digest)


if __name__ == "__main__":
    main()
