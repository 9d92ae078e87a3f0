"""The stateful CenterTrack tracker: one frame in, the current tracks out.

Between calls it keeps the previous network input (on the network's device) and the tracks of
the previous frame, from which the prior heatmap of the next frame is rendered. This is the
seam the ROS node and the tools use.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from .config import CenterTrackConfig, TrackerConfig
from .decode import decode_tensors, to_raw_detections
from .device import resolve_device
from .geometry import FrameGeometry, frame_geometry
from .postprocess import detections_to_image
from .preprocess import preprocess
from .prior import render_prior_heatmap
from .tracker import TrackManager
from .tracks import Track

COLOR_ORDERS = ('bgr', 'rgb')


def track_outputs(outputs: dict[str, torch.Tensor], geometry: FrameGeometry,
                  manager: TrackManager) -> list[Track]:
    """Decode one image's head outputs (heatmap after sigmoid) and update the tracks."""
    config = manager.config
    raw = to_raw_detections(decode_tensors(outputs, config.K))[0]
    return manager.update(detections_to_image(raw, geometry, config.effective_out_thresh))


class CenterTracker:
    """CenterTrack on a stream of frames from one camera.

    Args:
        network: a CenterTrack network with its weights loaded (``load_tracker`` in
            :mod:`centertrack_ros.core.model_spec` builds both from a checkpoint).
        config: the configuration the network was built from plus input/tracker/runtime.

    Call :meth:`step` once per frame in order; :meth:`reset` starts a new sequence.
    """

    def __init__(self, network: nn.Module, config: CenterTrackConfig) -> None:
        self.config = config
        self.device = resolve_device(config.runtime.device)
        self.network = network.to(self.device).eval()
        self.manager = TrackManager(config.tracker)
        self._pre_images: Optional[torch.Tensor] = None
        self._geometry: Optional[FrameGeometry] = None
        self.frames_processed = 0

    @property
    def tracks(self) -> list[Track]:
        """Tracks after the last frame, including coasting (inactive) ones."""
        return self.manager.tracks

    def reset(self) -> None:
        """Forget the previous frame and all tracks; ids restart at 1."""
        self.manager.reset()
        self._pre_images = None
        self._geometry = None

    def set_tracker_config(self, tracker: TrackerConfig) -> None:
        """Change thresholds/association between frames without losing the tracks."""
        self.config = self.config.replace(tracker=tracker)
        self.manager.config = tracker

    def _network_input(self, image: np.ndarray, geometry: FrameGeometry) -> torch.Tensor:
        return torch.from_numpy(preprocess(image, geometry, self.config.input)).to(self.device)

    def _prior_heatmap(self, geometry: FrameGeometry) -> Optional[torch.Tensor]:
        if not self.config.model.pre_hm:
            return None
        tracks = self.manager.tracks if self.config.tracker.pre_hm else []
        heatmap = render_prior_heatmap(tracks, geometry, self.config.tracker.effective_pre_thresh)
        return torch.from_numpy(heatmap).to(self.device)

    @torch.no_grad()
    def infer(self, images: torch.Tensor, pre_images: torch.Tensor,
              pre_hm: Optional[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the network; returns head outputs with the heatmap passed through a sigmoid."""
        outputs = self.network(images, pre_images if self.config.model.pre_img else None,
                               pre_hm)
        outputs['hm'] = outputs['hm'].sigmoid()
        return outputs

    def step(self, image: np.ndarray, color_order: str = 'bgr') -> list[Track]:
        """Track one ``HxWx3`` uint8 frame; returns all current tracks (see :class:`Track`)."""
        image = validate_frame(image, color_order)
        geometry = frame_geometry(image.shape[1], image.shape[0], self.config.input)
        if self._geometry is not None and geometry is not self._geometry:
            self.reset()  # a new image size cannot be compared with the old previous frame
        self._geometry = geometry
        images = self._network_input(image, geometry)
        if self._pre_images is None:
            self._pre_images = images
        outputs = self.infer(images, self._pre_images, self._prior_heatmap(geometry))
        tracks = track_outputs(outputs, geometry, self.manager)
        self._pre_images = images
        self.frames_processed += 1
        return tracks


def validate_frame(image: np.ndarray, color_order: str = 'bgr') -> np.ndarray:
    """Check a frame and return it as contiguous BGR uint8 ``HxWx3``.

    Raises:
        ValueError: on a wrong dtype, shape or colour order, with the reason.

    """
    if color_order not in COLOR_ORDERS:
        raise ValueError(f'color_order must be one of {COLOR_ORDERS}, got {color_order!r}')
    if not isinstance(image, np.ndarray):
        raise ValueError(f'frame must be a numpy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError(f'frame must be uint8, got {image.dtype}')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'frame must be HxWx3, got shape {image.shape}')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f'frame is too small: {image.shape[1]}x{image.shape[0]}')
    if color_order == 'rgb':
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)

