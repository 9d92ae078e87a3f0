"""The stateful CenterTrack tracker: frames in, the current tracks out.

Between calls it keeps, per camera, the previous network input (inside the engine, on the
network's device) and the tracks of the previous frame, from which the prior heatmap of the
next frame is rendered. :class:`CenterTracker` (one camera) is the seam the ROS node and the
tools use; :class:`MultiCameraTracker` runs several cameras through one network call.

A model with the 3D heads also needs each frame's camera matrix P (3x4, for the image as it
is given to :meth:`~MultiCameraTracker.step`) to place its tracks in metres; without one the
tracks carry depth, dimensions and observation angle but no location or yaw
(:mod:`~centertrack_ros.core.calibration` checks P and adapts it to resized or cropped images).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np

from .calibration import projection_matrix
from .config import CenterTrackConfig, TrackerConfig, TrackerOverrides
from .device import Device, resolve_device
from .engines import FrameRequest, InferenceEngine, make_engine
from .geometry import FrameGeometry, frame_geometry
from .postprocess import detections_to_image
from .prior import prior_peaks
from .tracker import TrackIds, TrackManager
from .tracks import Track

if TYPE_CHECKING:  # torch is imported only by the torch engines and the network itself
    from torch import nn

COLOR_ORDERS = ('bgr', 'rgb')


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


class MultiCameraTracker:
    """CenterTrack for several cameras, each with its own state, through one network call.

    Args:
        network: a CenterTrack network with its weights loaded (``load_tracker`` in
            :mod:`centertrack_ros.core.model_spec` builds one from a checkpoint).
        config: the configuration the network was built from plus input/tracker/runtime.
        num_cameras: how many frames each :meth:`step` takes.
        engine: ``auto``, ``onnxruntime``, ``torch`` or ``reference`` (see
            :mod:`centertrack_ros.core.engines`); default: ``config.runtime.engine``.
        model_tracker: the model's own tracker settings, which :meth:`apply_overrides` starts
            from (default: ``config.tracker``).
        onnx_path: the network exported to ONNX (then ``network`` may be None).
        shared_ids: number the tracks of all cameras from one counter, so that no id is
            ever seen on two cameras' objects (by default each camera counts from 1, as a
            tracker of its own would).

    """

    def __init__(self, network: Optional[nn.Module], config: CenterTrackConfig,
                 num_cameras: int = 1, engine: Optional[str] = None,
                 model_tracker: Optional[TrackerConfig] = None,
                 onnx_path: Optional[Path] = None, shared_ids: bool = False) -> None:
        self.config = config
        self.model_tracker = model_tracker or config.tracker
        kind = engine or config.runtime.engine
        # An exported file runs in ONNX Runtime, which then decides whether CUDA is usable.
        self.device: Device = resolve_device(config.runtime.device,
                                             'onnxruntime' if network is None else kind)
        if network is not None:
            network = network.to(str(self.device)).eval()
        self.engine: InferenceEngine = make_engine(kind, network, config, self.device,
                                                   num_cameras, onnx_path, self.model_tracker)
        ids = TrackIds() if shared_ids else None
        self.shared_ids = shared_ids
        self.managers = [TrackManager(config.tracker, ids) for _ in range(num_cameras)]
        self._geometries: list[Optional[FrameGeometry]] = [None] * num_cameras
        self.frames_processed = 0

    @property
    def network(self) -> Optional[nn.Module]:
        """The network as the engine runs it (None when it runs an ONNX file)."""
        return self.engine.network

    @property
    def num_cameras(self) -> int:
        """Number of cameras served."""
        return self.engine.num_cameras

    def reset(self, camera: Optional[int] = None, restart_ids: bool = True) -> None:
        """Forget previous frames and tracks of one camera (or all).

        Ids restart at 1 as in the original, unless ``restart_ids`` is False: then new tracks
        continue after the highest id already assigned (see :meth:`TrackManager.reset`).

        Raises:
            ValueError: ids are shared and one camera alone would restart them (the others'
                tracks hold ids that its new tracks would be given again).

        """
        if self.shared_ids and restart_ids and camera is not None:
            raise ValueError('the cameras share their ids: restart the ids of all cameras '
                             'or continue them (restart_ids=False)')
        for index in range(self.num_cameras) if camera is None else [camera]:
            self.managers[index].reset(restart_ids)
            self._geometries[index] = None
            self.engine.reset(index)

    @property
    def last_id(self) -> int:
        """The highest track id any camera assigned so far (0 before the first track)."""
        return max(manager.last_id for manager in self.managers)

    def continue_ids_after(self, last_id: int) -> None:
        """Give every camera's new tracks ids above ``last_id``."""
        for manager in self.managers:
            manager.continue_ids_after(last_id)

    def set_tracker_config(self, tracker: TrackerConfig) -> None:
        """Change thresholds/association between frames without losing the tracks."""
        self.config = self.config.replace(tracker=tracker)
        self.engine.k = tracker.K
        for manager in self.managers:
            manager.config = tracker

    def apply_overrides(self, overrides: TrackerOverrides) -> None:
        """Use the model's tracker settings with ``overrides`` applied (between frames)."""
        self.set_tracker_config(overrides.apply(self.model_tracker))

    def step(self, images: Mapping[int, np.ndarray], color_order: str = 'bgr',
             calibs: Optional[Mapping[int, Optional[np.ndarray]]] = None
             ) -> dict[int, list[Track]]:
        """Track one frame of each camera in ``images`` (``{camera: frame}``), in one batch.

        Cameras without a frame keep their state. A camera whose image size changed starts a
        new sequence (its previous frame cannot be compared with the new one). ``calibs``
        gives cameras' 3x4 matrices P for this frame (``{camera: P}``, for the image as
        given; models with 3D heads only): their tracks get ``loc`` and ``rot_y``. Returns
        each given camera's tracks (see :class:`Track`).

        Raises:
            ValueError: a malformed frame, an unknown camera, or a calibration that is not
                a valid P (:class:`~.calibration.CalibrationError`) or has no frame.

        """
        if not images:
            raise ValueError('no frames to track')
        matrices = {}
        for index, calib in (calibs or {}).items():
            if index not in images:
                raise ValueError(f'a calibration for camera {index}, which has no frame')
            if calib is not None:
                matrices[index] = projection_matrix(calib, f'the camera matrix of camera {index}')
        tracker = self.config.tracker
        requests: list[Optional[FrameRequest]] = [None] * self.num_cameras
        for index, image in images.items():
            if not 0 <= index < self.num_cameras:
                raise ValueError(f'camera {index} is not one of the {self.num_cameras} cameras')
            image = validate_frame(image, color_order)
            geometry = frame_geometry(image.shape[1], image.shape[0], self.config.input)
            previous = self._geometries[index]
            if previous is not None and not previous.same_size(geometry):
                self.reset(index)
            self._geometries[index] = geometry
            tracks = self.managers[index].tracks if tracker.pre_hm else []
            peaks = prior_peaks(tracks, geometry, tracker.effective_pre_thresh,
                                tracker.prior_lost)
            requests[index] = FrameRequest(image, geometry, peaks)
        results = {}
        for index, (request, raw) in enumerate(zip(requests, self.engine.run(requests))):
            if request is None:
                continue
            if raw is None:  # the InferenceEngine contract: rows for every frame given
                raise RuntimeError(f'the {self.engine.name} engine returned no rows for camera '
                                   f'{index}')
            detections = detections_to_image(raw, request.geometry, tracker.effective_low_thresh,
                                             matrices.get(index), self.config.model.depth_scale)
            results[index] = self.managers[index].update(detections)
        self.frames_processed += 1
        return results

    def step_all(self, images: Sequence[np.ndarray], color_order: str = 'bgr',
                 calibs: Optional[Sequence[Optional[np.ndarray]]] = None) -> list[list[Track]]:
        """Track one frame of every camera; returns each camera's tracks in camera order.

        ``calibs``: one P (or None) per camera, as for :meth:`step`.
        """
        if len(images) != self.num_cameras:
            raise ValueError(f'expected {self.num_cameras} frames, got {len(images)}')
        if calibs is not None and len(calibs) != self.num_cameras:
            raise ValueError(f'expected {self.num_cameras} calibrations, got {len(calibs)}')
        results = self.step(dict(enumerate(images)), color_order,
                            None if calibs is None else dict(enumerate(calibs)))
        return [results[index] for index in range(self.num_cameras)]


class CenterTracker:
    """CenterTrack on a stream of frames from one camera.

    Call :meth:`step` once per frame in order; :meth:`reset` starts a new sequence. The
    arguments are those of :class:`MultiCameraTracker` with one camera.
    """

    def __init__(self, network: Optional[nn.Module], config: CenterTrackConfig,
                 engine: Optional[str] = None, model_tracker: Optional[TrackerConfig] = None,
                 onnx_path: Optional[Path] = None) -> None:
        self._cameras = MultiCameraTracker(network, config, 1, engine, model_tracker,
                                           onnx_path)

    @property
    def config(self) -> CenterTrackConfig:
        """The configuration in use (tracker section changes with :meth:`set_tracker_config`)."""
        return self._cameras.config

    @property
    def device(self) -> Device:
        """The device the network runs on (a ``str`` such as ``cuda:0``; see :class:`Device`)."""
        return self._cameras.device

    @property
    def network(self) -> Optional[nn.Module]:
        """The network as the engine runs it (None when it runs an ONNX file)."""
        return self._cameras.network

    @property
    def engine(self) -> InferenceEngine:
        """The inference engine (reference or fast path)."""
        return self._cameras.engine

    @property
    def manager(self) -> TrackManager:
        """The track manager holding the tracks between frames."""
        return self._cameras.managers[0]

    @property
    def tracks(self) -> list[Track]:
        """Tracks after the last frame, including coasting (inactive) ones."""
        return self.manager.tracks

    @property
    def frames_processed(self) -> int:
        """Frames processed since construction."""
        return self._cameras.frames_processed

    @property
    def last_id(self) -> int:
        """The highest track id assigned so far (0 before the first track)."""
        return self.manager.last_id

    def reset(self, restart_ids: bool = True) -> None:
        """Forget the previous frame and all tracks.

        Ids restart at 1 as in the original, unless ``restart_ids`` is False: then new tracks
        continue after the highest id already assigned, so no id is ever used twice.
        """
        self._cameras.reset(restart_ids=restart_ids)

    def continue_ids_after(self, last_id: int) -> None:
        """Give new tracks ids above ``last_id`` (e.g. the last id of an earlier tracker)."""
        self.manager.continue_ids_after(last_id)

    @property
    def model_tracker(self) -> TrackerConfig:
        """The model's own tracker settings (before any overrides)."""
        return self._cameras.model_tracker

    def set_tracker_config(self, tracker: TrackerConfig) -> None:
        """Change thresholds/association between frames without losing the tracks."""
        self._cameras.set_tracker_config(tracker)

    def apply_overrides(self, overrides: TrackerOverrides) -> None:
        """Use the model's tracker settings with ``overrides`` applied (between frames)."""
        self._cameras.apply_overrides(overrides)

    def step(self, image: np.ndarray, color_order: str = 'bgr',
             calib: Optional[np.ndarray] = None) -> list[Track]:
        """Track one ``HxWx3`` uint8 frame; returns all current tracks (see :class:`Track`).

        ``calib``: the frame's 3x4 camera matrix P (for this image's pixels), which gives the
        tracks of a 3D model their ``loc`` and ``rot_y``; None leaves those out.
        """
        return self._cameras.step({0: image}, color_order,
                                  None if calib is None else {0: calib})[0]
