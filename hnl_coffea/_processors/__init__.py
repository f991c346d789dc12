"""Importable alias of hnl-coffea's top-level ``processors`` package.

Its submodules are loaded from the same source files as ``processors`` (this package's
``__path__`` points there), so ``hnl_coffea._processors.hnl.HNLProcessor`` works even when
another package called ``processors`` shadows ours. Used by :mod:`hnl_coffea.processors`.
"""

from pathlib import Path

__path__ = [str(Path(__file__).resolve().parents[2] / "processors")]
_init = Path(__path__[0]) / "__init__.py"
exec(compile(_init.read_text(), str(_init), "exec"))  # same exports, relative imports resolve here
