"""`make package STAGE=dev|prod`: `chalice package` with the merge template, then two changes to the Lambda zip.

- Without what the Lambda Python runtime already provides. The X-Ray SDK requires botocore (and botocore urllib3),
  which pip puts in the zip: 17 MiB of the 30 that the runtime ships anyway, as it ships the boto3 the functions
  already use. Taken out together, so the runtime's botocore runs with the urllib3 it was released with.
- Without the `holidays` package's translations but the NYSE's: the market clock asks it for the NYSE calendar
  alone, in its own language (0.7 MiB of the zip; the countries' modules stay, as its financial calendars import
  some of them).
- With bytecode. Lambda's /var/task is read-only, so Python cannot cache what it compiles there: without `.pyc`
  files every cold start compiles every module it imports from source. Each module is compiled here, by the
  interpreter Chalice packages for (the runtime's version; another version ignores them), as unchecked-hash
  `.pyc` files, which Python loads without comparing the source's modification time (the zip's times are not
  the files')."""
from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from devstack.paths import ROOT

# Distribution names as they appear at the zip's top level: the package and its `<name>-<version>.dist-info`.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3")
# The one calendar the market clock reads from `holidays` (chalicelib/domain/clock.py), by its market code.
KEPT_HOLIDAY_TRANSLATIONS = re.compile(r"^holidays/locale/[^/]+/LC_MESSAGES/XNYS\.mo$")
_DIST_INFO = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-[^/-]+\.dist-info$")


def build(stage: str, out_dir: Path) -> Path:
    """Package `stage` into `out_dir` (sam.json and deployment.zip), then slim the zip and add its bytecode;
    return the zip's path."""
    chalice = Path(sys.executable).with_name("chalice")
    # The app names its queue after the stage it is imported for, and `chalice package` imports it.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRADE_")}, "STAGE": stage,
           "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", ".chalice/merge-template.json",
                    str(out_dir)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    archive = out_dir / "deployment.zip"
    without_runtime_packages(archive)
    with_bytecode(archive)
    return archive


def left_out(entry: str) -> bool:
    """What the zip need not carry: what the runtime provides, and translations no function reads."""
    if entry.startswith("holidays/locale/") and not entry.endswith("/"):
        return not KEPT_HOLIDAY_TRANSLATIONS.match(entry)
    return provided_by_runtime(entry)


def provided_by_runtime(entry: str) -> bool:
    top = entry.split("/", 1)[0]
    dist_info = _DIST_INFO.match(top)
    name = dist_info.group("name") if dist_info else top.removesuffix(".py")
    return name.lower().replace("-", "_") in RUNTIME_PROVIDED


def without_runtime_packages(archive: Path) -> None:
    """Rewrite `archive` without the runtime's packages and the unread translations, each other entry kept as it
    was (mode, date, method)."""
    slimmed = archive.with_suffix(".slim.zip")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(slimmed, "w") as target:
        for info in source.infolist():
            if not left_out(info.filename):
                target.writestr(info, source.read(info), compress_type=info.compress_type)
    slimmed.replace(archive)


def with_bytecode(archive: Path) -> None:
    """Add an unchecked-hash `.pyc` beside every module in `archive`, compiled by this interpreter."""
    with tempfile.TemporaryDirectory() as unpacked:
        with zipfile.ZipFile(archive) as source:
            source.extractall(unpacked)
        if not compileall.compile_dir(unpacked, quiet=2, workers=0,
                                      invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
            raise RuntimeError(f"a module in {archive} does not compile")
        with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as target:
            for compiled in sorted(Path(unpacked).rglob("__pycache__/*.pyc")):
                # Dated as Chalice dates every entry, so the same sources make the same zip.
                info = zipfile.ZipInfo(compiled.relative_to(unpacked).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                target.writestr(info, compiled.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", choices=("dev", "prod"), required=True)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    try:
        archive = build(args.stage, args.out_dir)
    except subprocess.CalledProcessError as failed:
        sys.stderr.write(failed.stdout.decode() + failed.stderr.decode())
        return failed.returncode
    print(f"{args.out_dir / 'sam.json'} and {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
