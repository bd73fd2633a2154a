#!/usr/bin/env python3
"""Writes image layers and OCI image layout tarballs from folders, without Docker or a registry.

    oci_image.py layer --root DIR [--only PATH ...] [--exclude-contents PATH ...] --epoch N --out L.tar.gz
        A gzip-compressed layer of DIR (or of the subtrees PATH of DIR, with their parent
        folders), written deterministically: entries in sorted order, mtimes clamped to N,
        numeric owners only, gzip header without name or time. Prints the layer's descriptor
        as JSON: {"digest", "size", "diff_id"} (diff_id = sha256 of the uncompressed tar).

    oci_image.py image --layer L.json ... --config CONFIG.json --ref NAME:TAG ... --out IMAGE.tar
        An OCI image layout tarball (what `ctr images import` and `skopeo copy oci-archive:` read)
        with those layers, the image config (a JSON object: the runtime config plus
        created/history/labels) and one index entry per reference. Prints the manifest digest.

Only the standard library; hack/images/oci.py (busybox images) works the same way.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

PLATFORM = {"architecture": "amd64", "os": "linux"}
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, inner: BinaryIO | None) -> None:
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        if self.inner is not None:
            self.inner.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def walk(root: Path, top: Path, exclude_contents: set[Path]):
    """Yield top and everything below it, depth first, names sorted (bytes order)."""
    yield top
    if top.is_symlink() or not top.is_dir() or top in exclude_contents:
        return
    for name in sorted(os.listdir(top)):
        yield from walk(root, top / name, exclude_contents)


def entries(root: Path, only: list[str], exclude_contents: set[Path]):
    if not only:
        for path in walk(root, root, exclude_contents):
            if path != root:
                yield path
        return
    parents: set[Path] = set()
    for sub in sorted(only):
        top = root / sub.strip("/")
        for parent in reversed(top.relative_to(root).parents[:-1]):  # the folders above `top`
            if parent not in parents:
                parents.add(parent)
                yield root / parent
        yield from walk(root, top, exclude_contents)


def write_layer(
    root: Path, only: list[str], exclude_contents: list[str], epoch: int, out: Path
) -> dict[str, Any]:
    excluded = {root / p.strip("/") for p in exclude_contents}
    with open(out, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=6, mtime=0) as gz:  # type: ignore[arg-type]
            uncompressed = HashingWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for path in entries(root, only, excluded):
                    mode = path.lstat().st_mode
                    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                        continue  # device nodes, sockets, fifos: the runtime provides /dev
                    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                    info.mtime = min(int(info.mtime), epoch)
                    info.uname = info.gname = ""
                    info.pax_headers = {}
                    if info.isreg():
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
    return {
        "mediaType": LAYER_GZIP,
        "digest": compressed.digest,
        "size": compressed.size,
        "diff_id": uncompressed.digest,
    }


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def tar_info(name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


def write_image(
    layers: list[tuple[dict[str, Any], Path]], config: dict[str, Any], refs: list[str], out: Path
) -> str:
    config = {
        **PLATFORM,
        **config,
        "rootfs": {"type": "layers", "diff_ids": [desc["diff_id"] for desc, _ in layers]},
    }
    config_data = canonical(config)
    config_desc = {
        "mediaType": CONFIG,
        "digest": "sha256:" + hashlib.sha256(config_data).hexdigest(),
        "size": len(config_data),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_desc,
        "layers": [{k: desc[k] for k in ("mediaType", "digest", "size")} for desc, _ in layers],
        "annotations": {
            k: v
            for k, v in config.get("config", {}).get("Labels", {}).items()
            if k.startswith("org.opencontainers.image.")
        },
    }
    manifest_data = canonical(manifest)
    manifest_digest = "sha256:" + hashlib.sha256(manifest_data).hexdigest()
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {
                "mediaType": MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_data),
                "platform": PLATFORM,
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                },
            }
            for ref in refs
        ],
    }
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(tar_info(d, 0, tarfile.DIRTYPE, 0o755))
        blobs: dict[str, tuple[int, BinaryIO | bytes]] = {}
        for desc, path in layers:
            blobs[desc["digest"]] = (desc["size"], path)  # type: ignore[assignment]
        blobs[config_desc["digest"]] = (len(config_data), config_data)
        blobs[manifest_digest] = (len(manifest_data), manifest_data)
        for digest in sorted(blobs):
            size, content = blobs[digest]
            info = tar_info("blobs/sha256/" + digest.split(":", 1)[1], size)
            if isinstance(content, bytes):
                tar.addfile(info, _bytes(content))
            else:
                with open(content, "rb") as f:
                    tar.addfile(info, f)
        for name, data in (
            ("oci-layout", canonical({"imageLayoutVersion": "1.0.0"})),
            ("index.json", canonical(index)),
        ):
            tar.addfile(tar_info(name, len(data)), _bytes(data))
    tmp.replace(out)
    return manifest_digest


def _bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    layer = sub.add_parser("layer")
    layer.add_argument("--root", required=True, type=Path)
    layer.add_argument("--only", action="append", default=[])
    layer.add_argument("--exclude-contents", action="append", default=[])
    layer.add_argument("--epoch", required=True, type=int)
    layer.add_argument("--out", required=True, type=Path)
    image = sub.add_parser("image")
    image.add_argument(
        "--layer",
        action="append",
        required=True,
        type=Path,
        help="a layer's JSON descriptor; the layer itself is the file of the same name without .json",
    )
    image.add_argument("--config", required=True, type=Path)
    image.add_argument("--ref", action="append", required=True)
    image.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    if args.command == "layer":
        desc = write_layer(args.root.resolve(), args.only, args.exclude_contents, args.epoch, args.out)
        print(json.dumps(desc))
    else:
        layers = [(json.loads(p.read_text()), p.with_suffix("")) for p in args.layer]
        print(write_image(layers, json.loads(args.config.read_text()), args.ref, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
