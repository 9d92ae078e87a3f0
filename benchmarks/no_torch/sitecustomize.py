"""Make this interpreter look like a vehicle runtime without PyTorch: no torch, no torchvision.

Put this folder first on ``PYTHONPATH`` and every Python process started with it fails to
import ``torch``, ``torchvision`` and their sub-modules with a ``ModuleNotFoundError``, as if
they were not installed. A node or tool that runs an exported ``.onnx`` model with the
onnxruntime engine must work in such a process (issue 26); ``test/unit/core/test_no_torch.py``
checks it, and a benchmark run with it measures what such a process costs.
``CENTERTRACK_BLOCKED_MODULES`` (comma-separated top-level names) replaces the list.
"""

import os
import sys
from importlib.abc import MetaPathFinder

BLOCKED = ('torch', 'torchvision', 'torchaudio', 'functorch')


class _NoTorch(MetaPathFinder):
    """Refuse the blocked top-level packages and their sub-modules."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        """Raise for a blocked name; return None (look elsewhere) for any other."""
        if fullname.partition('.')[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{fullname}' (blocked: no torch here)",
                                      name=fullname)
        return None


_names = os.environ.get('CENTERTRACK_BLOCKED_MODULES')
_blocked = (tuple(n.strip() for n in _names.split(',') if n.strip()) if _names else BLOCKED)
sys.meta_path.insert(0, _NoTorch(_blocked))
for _name in [m for m in sys.modules if m.partition('.')[0] in _blocked]:
    del sys.modules[_name]
