"""Start-up check: the imported ``autohedge`` package is the one the ``autohedge-engine`` distribution
installed, and no other installed distribution also provides a top-level ``autohedge``.

PyPI has an unrelated project called ``autohedge`` whose files would land in the same ``autohedge/``
folder: installed beside ours, the two mix silently and uninstalling one deletes the other. Everything
of ours lives under that one import root (see the README, "Installing beside other packages"), so this
is the only name to verify. Runs on the main thread before anything else starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import autohedge

__all__ = ["DISTRIBUTION", "IMPORT_ROOT", "Claim", "install_problem", "installed_problem"]

DISTRIBUTION = "autohedge-engine"
IMPORT_ROOT = "autohedge"


@dataclass(frozen=True)
class Claim:
    """Where one installed copy of our distribution says its ``autohedge/__init__.py`` is."""

    init_file: Path | None
    """The file its record lists (a regular install)."""
    editable_root: Path | None = None
    """The source folder of an editable install: the package lies below it."""

    def covers(self, package_init: Path) -> bool:
        if self.init_file is not None and self.init_file == package_init:
            return True
        return self.editable_root is not None and package_init.is_relative_to(self.editable_root)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_problem(
    providers: Mapping[str, Sequence[str]], claims: Iterable[Claim], package_init: Path
) -> str | None:
    """One line saying what is wrong with the installation, or None when it is sound.

    ``providers`` maps top-level import names to the distributions providing them (as
    ``importlib.metadata.packages_distributions`` does), ``claims`` are the installed copies of our
    distribution, ``package_init`` is the ``autohedge/__init__.py`` actually imported.
    """
    others = sorted({name for name in providers.get(IMPORT_ROOT, ()) if _canonical(name) != DISTRIBUTION})
    if others:
        return (
            f"the import package '{IMPORT_ROOT}' is also provided by the installed distribution "
            f"'{others[0]}' (an unrelated project): uninstall it or use a separate virtual environment"
        )
    claims = list(claims)
    if not claims:
        return f"'{IMPORT_ROOT}' is imported from {package_init.parent} but '{DISTRIBUTION}' is not installed"
    if not any(claim.covers(package_init) for claim in claims):
        return (
            f"'{IMPORT_ROOT}' is imported from {package_init.parent}, not where the installed "
            f"'{DISTRIBUTION}' put it: another copy shadows it on the import path"
        )
    return None


def _claim(dist: metadata.Distribution) -> Claim:
    init_file = None
    for file in dist.files or ():
        if file.as_posix() == f"{IMPORT_ROOT}/__init__.py":
            init_file = Path(str(dist.locate_file(file))).resolve()
    editable_root = None
    direct_url = dist.read_text("direct_url.json")
    if direct_url:
        info = json.loads(direct_url)
        url = urlsplit(str(info.get("url", "")))
        if info.get("dir_info", {}).get("editable") and url.scheme == "file":
            editable_root = Path(unquote(url.path)).resolve()
    return Claim(init_file=init_file, editable_root=editable_root)


def installed_problem() -> str | None:
    """``install_problem`` for this interpreter's installed distributions."""
    claims = [
        _claim(dist)
        for dist in metadata.distributions()
        if _canonical(dist.metadata["Name"] or "") == DISTRIBUTION
    ]
    return install_problem(metadata.packages_distributions(), claims, Path(autohedge.__file__).resolve())
