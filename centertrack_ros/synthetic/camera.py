"""What the camera adds to the scene: shake, exposure and white-balance drift, sensor noise.

All of it is drawn as per-frame tables when the sequence is generated and applied to each
rendered frame, so a frame stays a pure function of its index.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .config import SceneConfig

_NOISE_PAD = 32  # the noise tile is this much larger than the image; frames crop it at random


def shake_table(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Integer (dx, dy) image offsets per frame: a slow sway plus per-frame jitter."""
    n, a = cfg.num_frames, cfg.shake
    t = np.arange(n) / cfg.fps
    out = np.zeros((n, 2))
    for axis, weight in ((0, 1.0), (1, 0.7)):
        period = rng.uniform(3.0, 9.0)
        sway = 2 * a * weight * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        jitter = a * weight * rng.uniform(-1.0, 1.0, n)
        out[:, axis] = np.clip(np.rint(sway + jitter), -3 * a, 3 * a)
    return out.astype(np.int64)


def gain_table(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-frame (gain_b, gain_g, gain_r, offset): slow exposure and white-balance drift."""
    n, v = cfg.num_frames, cfg.lighting_variation
    t = np.arange(n) / cfg.fps
    base = rng.uniform(1.0 - v, 1.0 + 0.5 * v)
    exposure = base + v * 0.6 * np.sin(2 * math.pi * t / rng.uniform(8, 30)
                                       + rng.uniform(0, 2 * math.pi))
    out = np.zeros((n, 4), np.float32)
    for c in range(3):
        tint = v * 0.25 * np.sin(2 * math.pi * t / rng.uniform(10, 40)
                                 + rng.uniform(0, 2 * math.pi)) + rng.uniform(-0.3, 0.3) * v
        out[:, c] = exposure * (1.0 + tint)
    out[:, 3] = rng.uniform(-12, 12) * v
    return out


def noise_table(cfg: SceneConfig, rng: np.random.Generator
                ) -> tuple[np.ndarray | None, np.ndarray]:
    """Return a sensor-noise tile (None without noise) and each frame's (y, x) offset into it.

    One tile cropped at a different offset per frame costs a crop instead of a fresh draw per
    frame. Its values are noise plus a positive middle value, so they fit ``uint8``.
    """
    noise = None
    offsets = rng.integers(0, _NOISE_PAD, (cfg.num_frames, 2))
    if cfg.noise > 0:
        mid = math.ceil(2 * cfg.noise)
        tile = rng.normal(mid, cfg.noise,
                          (cfg.height + _NOISE_PAD, cfg.width + _NOISE_PAD, 3))
        noise = np.clip(np.rint(tile), 0, 2 * mid).astype(np.uint8)
    return noise, offsets


def expose(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Apply one frame's row of :func:`gain_table` to a BGR image."""
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gain[None, :3] + gain[None, 3],
                  0, 255).astype(np.uint8).reshape(1, 256, 3)
    return cv2.LUT(img, lut)


def add_noise(img: np.ndarray, noise: np.ndarray, offset: np.ndarray, level: float) -> None:
    """Add sensor noise of standard deviation ``level`` to ``img`` in place.

    ``noise`` and ``offset`` come from :func:`noise_table`. Adding the tile, then subtracting its
    middle value, adds signed noise in saturating ``uint8`` arithmetic.
    """
    height, width = img.shape[:2]
    oy, ox = offset
    tile = noise[oy:oy + height, ox:ox + width]
    cv2.add(img, tile, dst=img)
    # OpenCV takes a scalar as the second operand; its stubs only list arrays.
    cv2.subtract(img, (float(math.ceil(2 * level)),) * 3 + (0,),  # type: ignore[call-overload]
                 dst=img)
