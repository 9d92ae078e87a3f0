"""Training-time augmentation: random crop/scale, flip, the previous frame's jitter, colour.

The geometric part produces the centre and size of the image square that the affine warp maps
onto the network input (the same construction as inference, see
:func:`centertrack_ros.core.geometry.affine_transform_matrix`); the photometric part perturbs
brightness, contrast and saturation in random order and adds PCA ("AlexNet") lighting noise,
as CenterNet/CenterTrack do.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.geometry import affine_transform_matrix

# Eigen-decomposition of ImageNet pixel colours (BGR), used for the lighting noise.
_EIG_VAL = np.array([0.2141788, 0.01817699, 0.00341571], dtype=np.float32)
_EIG_VEC = np.array([[-0.58752847, -0.69563484, 0.41340352],
                     [-0.5832747, 0.00994535, -0.81221408],
                     [-0.56089297, 0.71832671, 0.41158938]], dtype=np.float32)
_GREY = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR luma weights


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings (names and defaults of the original options where they exist).

    Attributes:
        rand_crop: random scale and centre (the original's default); otherwise ``shift`` and
            ``scale`` jitter the full view.
        crop_scales: the scale factors a random crop draws from, uniformly (the original:
            0.6 to 1.3 in steps of 0.1).
        shift: std of the centre jitter as a fraction of the view size (clipped at 2 std).
        scale: std of the scale jitter (clipped at 2 std).
        flip: probability of a horizontal flip.
        color: photometric augmentation on/off.
        same_aug_pre: the previous frame of a video pair gets the current frame's geometry;
            otherwise (and always for a frame paired with itself) it gets its own jitter.

    """

    rand_crop: bool = True
    crop_scales: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
    shift: float = 0.05
    scale: float = 0.05
    flip: float = 0.5
    color: bool = True
    same_aug_pre: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, 'crop_scales', tuple(float(s) for s in self.crop_scales))
        if not self.crop_scales or min(self.crop_scales) <= 0:
            raise ValueError(f'crop_scales must be positive, got {self.crop_scales}')
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f'flip must be a probability, got {self.flip}')
        if self.shift < 0 or not 0 <= self.scale < 1:
            raise ValueError(f'shift must be >= 0 and scale in [0, 1), got {self.shift}, '
                             f'{self.scale}')


def _border(border: int, size: int) -> int:
    """Largest ``border / 2**i`` that leaves room for a centre inside ``size``."""
    i = 1
    while size - border // i <= border // i:
        i *= 2
    return border // i


def random_view(center: np.ndarray, size: float, width: int, height: int,
                config: AugmentConfig, rng: np.random.Generator,
                jitter_only: bool = False) -> tuple[np.ndarray, float]:
    """Draw the centre and scale factor of a training view of a ``width x height`` image.

    ``size`` is the side of the unaugmented view. With ``config.rand_crop`` (and not
    ``jitter_only``) the centre is uniform away from the borders and the scale factor one of
    ``crop_scales``; otherwise centre and size are jittered by ``shift`` and ``scale``.
    """
    center = np.array(center, dtype=np.float32)
    if config.rand_crop and not jitter_only:
        factor = float(rng.choice(config.crop_scales))
        w_border, h_border = _border(128, width), _border(128, height)
        center[0] = rng.integers(w_border, max(width - w_border, w_border + 1))
        center[1] = rng.integers(h_border, max(height - h_border, h_border + 1))
        return center, factor
    cf, sf = config.shift, config.scale
    center[0] += size * float(np.clip(rng.standard_normal() * cf, -2 * cf, 2 * cf))
    center[1] += size * float(np.clip(rng.standard_normal() * cf, -2 * cf, 2 * cf))
    factor = float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
    return center, factor


def view_transforms(center: np.ndarray, size: float, input_size: tuple[int, int],
                    output_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Affine matrices of a view into the input ``(w, h)`` and the output grid ``(w, h)``."""
    return (affine_transform_matrix(center, size, input_size),
            affine_transform_matrix(center, size, output_size))


def warp(image: np.ndarray, trans_input: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Bilinear warp of a BGR uint8 image into the input (black outside the image)."""
    return cv2.warpAffine(image, trans_input, input_size, flags=cv2.INTER_LINEAR)


def color_augment(image: np.ndarray, rng: np.random.Generator, strength: float = 0.4,
                  lighting_std: float = 0.1) -> None:
    """Perturb a BGR float32 image in [0, 1] in place (values may leave [0, 1] slightly).

    Brightness, contrast and saturation are scaled by ``1 + U(-strength, strength)`` each, in
    random order, blending with black, the mean grey level and the per-pixel grey image
    respectively; then PCA lighting noise of std ``lighting_std`` is added.
    """
    grey = image @ _GREY
    grey_mean = float(grey.mean())

    def brightness() -> None:
        np.multiply(image, 1 + rng.uniform(-strength, strength), out=image)

    def contrast() -> None:
        alpha = 1 + rng.uniform(-strength, strength)
        np.multiply(image, alpha, out=image)
        np.add(image, (1 - alpha) * grey_mean, out=image)

    def saturation() -> None:
        alpha = 1 + rng.uniform(-strength, strength)
        np.multiply(image, alpha, out=image)
        np.add(image, (1 - alpha) * grey[:, :, np.newaxis], out=image)

    steps = [brightness, contrast, saturation]
    for k in rng.permutation(len(steps)):
        steps[int(k)]()
    alpha = rng.normal(scale=lighting_std, size=(3,)).astype(np.float32)
    np.add(image, _EIG_VEC @ (_EIG_VAL * alpha), out=image)


def normalise(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(image - mean) / std`` as a ``3 x H x W`` float32 array (image already in [0, 1])."""
    return np.ascontiguousarray(((image - mean) / std).transpose(2, 0, 1), dtype=np.float32)
