"""Where an export lands: a site is built in a fresh folder beside its target, then renamed into place.

So a failed or interrupted export (NaN weights, a failing self-check, Ctrl+C)
leaves the previous site exactly as it was and no half-built folder behind; a
re-export leaves nothing of the site it replaces (a several-model site over a
one-model site keeps no stale root graphs); and a folder latentcraft did not
write is never replaced unless the caller forces it.

    .<name>.export-<pid>-<hex>/     the new site while it is built (same parent: rename is atomic)
    .<name>.replaced-<pid>-<hex>/   the previous site between the two renames of a swap

A process killed mid-export leaves such a folder; the next export to the same
target removes it once its PID is no longer running.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from latentcraft.explorer.onnx_graphs import ExportError
from latentcraft.explorer.site_bundle import MANIFEST_FILE

BUILDING, REPLACED = "export", "replaced"  # the two kinds of working folder beside a target


class SiteFolderTaken(ExportError):
    """The output folder holds something latentcraft did not write (or a run folder)."""


def is_site(folder: str | Path) -> bool:
    """A folder to serve as a site: it has a manifest.json (readable or not; the pages report damage)."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def written_by_export(folder: Path) -> bool:
    """True if `folder`'s manifest.json is one an export wrote: a JSON object with a format and files or models."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and "format" in manifest and ("files" in manifest or "models" in manifest)


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def site_target(out_dir: str | Path, run_dirs: Iterable[str | Path], force: bool = False) -> Path:
    """The resolved folder an export may replace; SiteFolderTaken if it must not.

    Refused always: a file, or a folder that is or holds one of the runs being
    exported. Refused unless `force`: a non-empty folder that is not a site an
    export wrote (a user's own index.html and style.css, say).
    """
    out = Path(os.path.realpath(out_dir))  # through a symlink: the link keeps pointing at the new site
    if out.exists() and not out.is_dir():
        raise SiteFolderTaken(f"{out_dir} is a file, not a folder; choose another output folder for the site")
    for run_dir in run_dirs:
        if _within(Path(os.path.realpath(run_dir)), out):
            raise SiteFolderTaken(f"{out_dir} holds the run folder {run_dir} being exported; the site replaces its "
                                  "output folder, so choose another one (the default is RUN_DIR/site)")
    if out.is_dir() and any(out.iterdir()) and not written_by_export(out) and not force:
        raise SiteFolderTaken(
            f"{out_dir} is not empty and is not a site latentcraft exported (no manifest.json of ours), so it is left "
            "alone: export to another folder (latentcraft export --out DIR), or replace everything in it with "
            "latentcraft export --force")
    return out


def _working_folder(parent: Path, target: str, kind: str) -> Path:
    """A new empty folder `.<target>.<kind>-<pid>-<hex>` in `parent` (mode from the umask, as any folder)."""
    while True:
        folder = parent / f".{target}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_abandoned(target: Path) -> list[Path]:
    """Delete the working folders of exports to `target` whose process is no longer running."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:{BUILDING}|{REPLACED})-(\d+)-[0-9a-f]+")
    abandoned = []
    for folder in target.parent.iterdir():
        found = pattern.fullmatch(folder.name)
        if found and folder.is_dir() and not folder.is_symlink() and not _running(int(found.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            abandoned.append(folder)
    return abandoned


def _swap_in(build: Path, target: Path) -> None:
    """Rename `build` to `target`; an existing target is first renamed away, then deleted."""
    if not target.exists():
        try:
            os.rename(build, target)
            return
        except OSError as err:  # created meanwhile: swap with it as with any existing site
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    replaced = _working_folder(target.parent, target.name, REPLACED)
    os.rename(target, replaced)  # POSIX: a directory may be renamed over an empty one
    try:
        os.rename(build, target)
    except BaseException:
        os.rename(replaced, target)
        raise
    shutil.rmtree(replaced, ignore_errors=True)


@contextmanager
def building_site(target: Path) -> Iterator[Path]:
    """Yield a fresh folder beside `target` to build the site in; on success it replaces `target`.

    On any failure, Ctrl+C included, the folder is removed and `target` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    build = _working_folder(target.parent, target.name, BUILDING)
    try:
        yield build
        _swap_in(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)  # gone already after a successful swap
