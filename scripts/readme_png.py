"""Write a README picture: a BGR frame as a small palette PNG (the file is committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(picture: np.ndarray, output: str) -> str:
    """Write ``picture`` (BGR) to ``output`` with 256 colours; return ``'WxH, N KiB'``.

    A 256-colour palette keeps the committed file small: the synthetic scenes have few hues.
    """
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(picture[:, :, ::-1])).quantize(256).save(
        path, optimize=True)
    return f'{picture.shape[1]}x{picture.shape[0]}, {path.stat().st_size / 1024:.0f} KiB'
