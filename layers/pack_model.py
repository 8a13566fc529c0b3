"""Packs an ONNX model folder (model.onnx plus its tokenizer files) into a zip laid out for a Lambda layer
(`/opt/model/<name>/…`) and writes a manifest of sha256 digests; the same files go to S3 under
`models/<name>/` in the stack's bucket for functions that load the model from there.

Usage: python layers/pack_model.py MODEL_DIR [--name all-minilm-l6-v2-int8] [--out layers/build]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("model.onnx",)
LAYER_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload; larger layer zips must go through S3 (the CDK does)
UNZIPPED_LIMIT = 250 * 1024 * 1024


class ModelFolderError(ValueError):
    """The folder is missing, lacks model.onnx, or holds nothing to pack."""


def model_files(folder: Path) -> list[Path]:
    """Every regular file under `folder`, sorted, so the zip and its manifest are reproducible."""
    if not folder.is_dir():
        raise ModelFolderError(f"{folder} is not a folder")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ModelFolderError(f"{folder} lacks {', '.join(missing)}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(folder: Path, name: str, out: Path) -> tuple[Path, dict[str, object]]:
    """Write `<out>/model-<name>.zip` (fixed timestamps, deflated) and return it with its manifest."""
    files = model_files(folder)
    manifest: dict[str, object] = {
        "name": name,
        "layer_path": f"/opt/model/{name}",
        "s3_prefix": f"models/{name}/",
        "files": {str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": sha256_of(p)} for p in files},
    }
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"model-{name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"model/{name}/{path.relative_to(folder)}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
        info = zipfile.ZipInfo(f"model/{name}/manifest.json", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, json.dumps(manifest, indent=2, sort_keys=True))
    return target, manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="folder with model.onnx and its tokenizer files")
    parser.add_argument("--name", default="all-minilm-l6-v2-int8", help="model name in the layer and in S3")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "layers" / "build", help="output folder")
    args = parser.parse_args(argv)
    try:
        target, manifest = pack(args.model_dir, args.name, args.out)
    except ModelFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = manifest["files"]
    assert isinstance(files, dict)
    unzipped = sum(int(entry["bytes"]) for entry in files.values())
    zipped = target.stat().st_size
    print(f"{target}: {len(files)} files, {unzipped / 2**20:.1f} MB unzipped, {zipped / 2**20:.1f} MB zipped")
    if zipped > LAYER_ZIP_LIMIT:
        print("note: over 50 MB zipped: publish the layer through S3 (cdk assets do)")
    print(f"S3: aws s3 cp --recursive {args.model_dir} s3://<BucketName>/models/{args.name}/")
    return 1 if unzipped > UNZIPPED_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
