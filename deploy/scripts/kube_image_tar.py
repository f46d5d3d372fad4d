"""Pack local files as docker-archive image tarballs for `ctr images import`.

The test cluster pulls from no registry: its pause image (the sandbox every pod needs) and a
busybox image for smoke tests are made here from a static `pause` binary and Debian's
busybox-static, with every busybox applet linked in /bin.

usage: kube_image_tar.py OUT_DIR PAUSE_BINARY BUSYBOX_BINARY
writes OUT_DIR/pause.tar (local/pause:3.4) and OUT_DIR/busybox.tar (local/busybox:1)
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

PAUSE_IMAGE = "local/pause:3.4"
BUSYBOX_IMAGE = "local/busybox:1"
# A fixed date: the same inputs give the same image id, so re-imports change nothing.
CREATED = "2026-01-01T00:00:00Z"


def _add(archive: tarfile.TarFile, info: tarfile.TarInfo, data: bytes | None = None) -> None:
    if data is not None:
        info.size = len(data)
    archive.addfile(info, io.BytesIO(data) if data is not None else None)


def _layer(files: list[tuple[Path, str]], dirs: list[str], symlinks: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as layer:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            _add(layer, info)
        for source, name in files:
            info = tarfile.TarInfo(name)
            info.mode = 0o755
            _add(layer, info, source.read_bytes())
        for name, target in sorted(symlinks.items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            _add(layer, info)
    return buffer.getvalue()


def image_tar(out: Path, tag: str, layer: bytes, entrypoint, cmd) -> None:
    """Write a one-layer image in `docker save` format."""
    layer_sha = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": {"Entrypoint": entrypoint, "Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
            "history": [{"created": CREATED}],
        }
    ).encode()
    config_sha = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        [{"Config": f"{config_sha}.json", "RepoTags": [tag], "Layers": [f"{layer_sha}/layer.tar"]}]
    ).encode()
    with tarfile.open(out, "w") as archive:
        for name, data in (
            (f"{config_sha}.json", config),
            (f"{layer_sha}/layer.tar", layer),
            ("manifest.json", manifest),
        ):
            _add(archive, tarfile.TarInfo(name), data)


def main(out_dir: Path, pause: Path, busybox: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    image_tar(
        out_dir / "pause.tar", PAUSE_IMAGE, _layer([(pause, "pause")], [], {}), ["/pause"], None
    )
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True)
    links = {f"bin/{name}": "busybox" for name in applets.stdout.split() if name != "busybox"}
    layer = _layer([(busybox, "bin/busybox")], ["bin", "tmp", "etc", "proc", "sys", "dev"], links)
    image_tar(out_dir / "busybox.tar", BUSYBOX_IMAGE, layer, None, ["sh"])


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
