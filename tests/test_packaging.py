"""The package list in pyproject.toml covers every Python package folder (a wheel install
would silently miss an unlisted one; the editable install would not show it)."""

import tomllib
from pathlib import Path

from tickforge.host.paths import REPO


def test_every_package_folder_is_listed():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    mapping = project["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *parts)))
    found |= set(project["package-data"])   # a folder of data is a package without __init__.py
    assert found == listed, f"unlisted: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def test_package_data_lies_in_listed_packages():
    """setuptools treats a data folder as a package: one left out of the list draws a warning
    at every install and is due to be refused."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    folders = {}
    for package in listed:
        parent = max((p for p in project["package-dir"] if package.startswith(p)), key=len)
        folders[package] = REPO / project["package-dir"][parent] / Path(
            *package[len(parent):].split(".")[1:])
    for package, patterns in project["package-data"].items():
        for pattern in patterns:
            matched = sorted(folders[package].glob(pattern))
            assert matched, f"{package}: {pattern!r} matches no file"
            for path in matched:
                holder = ".".join((package, *path.parent.relative_to(folders[package]).parts))
                assert holder in listed, f"{path.relative_to(REPO)} lies in unlisted {holder}"
