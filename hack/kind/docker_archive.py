#!/usr/bin/env python3
"""Writes a `docker load` archive (the `docker save` format) from layers made by
hack/image/oci_image.py, so the kind node image needs no Dockerfile, no build and no registry.

    docker_archive.py --layer L.tar.gz.json ... --config CONFIG.json --tag NAME:TAG --out IMAGE.tar

Docker 20.10 loads this format, not OCI layouts; it unpacks gzip layers itself and checks each
against its diff_id. CONFIG is the image config's "config" object (Env, Entrypoint, StopSignal:
`docker import` cannot set STOPSIGNAL, this can). Standard library only.
"""
import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layer", action="append", required=True, type=Path)
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    layers = [(json.loads(d.read_text()), d.with_suffix("")) for d in args.layer]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": json.loads(args.config.read_text()),
        "rootfs": {"type": "layers", "diff_ids": [desc["diff_id"] for desc, _ in layers]},
    }
    config_data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_data).hexdigest() + ".json"
    names = [desc["diff_id"].split(":", 1)[1] + "/layer.tar" for desc, _ in layers]
    manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": names}]
    tmp = args.out.with_name(args.out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, config_name, config_data)
        for (_, path), name in zip(layers, names):
            tar.add(str(path), arcname=name, recursive=False)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    tmp.replace(args.out)
    print(config_name.removesuffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
