"""Load a script of ``.ci/`` as a module, so tests can call its functions."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_ci_script(name: str, module_name: str | None = None):
    """``.ci/<name>.py`` as a module registered under ``module_name`` (default ``name``)."""
    module_name = module_name or name
    spec = importlib.util.spec_from_file_location(module_name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module
