"""The sequence API: generate a sequence from a configuration, then fetch any frame.

Determinism and random access: :func:`generate_sequence` draws every random quantity from
``numpy.random.default_rng(config.seed)`` up front -- the scene layout, the object schedule and
their whole trajectories (a table of one box per object and frame), the camera shake, the
lighting curve and the sensor-noise offsets. :meth:`SyntheticSequence.frame` is then a pure
function of the frame index whose cost is proportional to the number of objects in that frame,
so a training loader can fetch any pair of frames without rendering the ones between them.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .background import render_background
from .camera import add_noise, expose, gain_table, noise_table, shake_table
from .config import SceneConfig
from .ground_truth import GroundTruthObject, frame_ground_truth
from .layout import Layout, make_layout
from .render import render_scene
from .roadside import RoadsideItem, roadside_items
from .style import Style, make_style
from .traffic import Track, plan_tracks


class SyntheticSequence:
    """A generated sequence: random access to frames and their ground truth.

    Create it with :func:`generate_sequence`. Frames are rendered on demand and nothing is
    cached, so holding many sequences is cheap (a background canvas each).
    """

    def __init__(self, config: SceneConfig, layout: Layout, style: Style,
                 background: np.ndarray, tracks: list[Track], shake: np.ndarray,
                 gains: np.ndarray, noise: np.ndarray | None, noise_offsets: np.ndarray,
                 ) -> None:
        """Assemble a sequence from precomputed tables (use :func:`generate_sequence`)."""
        self._cfg = config
        self._lay = layout
        self._sty = style
        self._bg = background
        self._tracks = tracks
        self._shake = shake
        self._gains = gains
        self._noise = noise
        self._noise_offsets = noise_offsets
        self._active: list[list[int]] = [[] for _ in range(config.num_frames)]
        for k, tr in enumerate(tracks):
            for i in range(tr.first, tr.last + 1):
                self._active[i].append(k)

    @property
    def config(self) -> SceneConfig:
        """The configuration the sequence was generated from."""
        return self._cfg

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self._cfg.width

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self._cfg.height

    @property
    def fps(self) -> float:
        """Frame rate the motion was simulated at."""
        return self._cfg.fps

    @property
    def num_tracks(self) -> int:
        """Number of distinct track ids (ids are 1..num_tracks)."""
        return len(self._tracks)

    @property
    def ego_speed(self) -> float:
        """The camera's forward speed in metres per second (drawn from ``config.ego_speed``)."""
        return self._lay.ego_speed

    def __len__(self) -> int:
        """Return the number of frames."""
        return self._cfg.num_frames

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[GroundTruthObject]]]:
        """Yield ``(image, ground_truth)`` for every frame in order."""
        for i in range(len(self)):
            yield self.frame(i)

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f'frame index {i} out of range for a sequence of {n} frames')
        return i % n

    def frame(self, i: int) -> tuple[np.ndarray, list[GroundTruthObject]]:
        """Render frame ``i`` (0-based; negative counts from the end).

        Returns the BGR uint8 image of shape (height, width, 3) and its ground truth, in the same
        order as :meth:`ground_truth`.
        """
        i = self._index(i)
        items = self._roadside(i)
        return self._render(i, items), self._ground_truth(i, items)

    def image(self, i: int) -> np.ndarray:
        """Render frame ``i`` without computing its ground truth."""
        i = self._index(i)
        return self._render(i, self._roadside(i))

    def ground_truth(self, i: int) -> list[GroundTruthObject]:
        """Ground truth of frame ``i`` without rendering it, ordered by track id."""
        i = self._index(i)
        return self._ground_truth(i, self._roadside(i))

    # -- internals ---------------------------------------------------------------------------

    def _ego_distance(self, i: int) -> float:
        return self._lay.ego_speed * i / self._cfg.fps

    def _listed(self, i: int) -> list[Track]:
        return [self._tracks[k] for k in self._active[i]]

    def _roadside(self, i: int) -> list[RoadsideItem]:
        return roadside_items(self._lay, self._sty, self._cfg.seed, self._ego_distance(i))

    def _ground_truth(self, i: int, items: list[RoadsideItem]) -> list[GroundTruthObject]:
        return frame_ground_truth(self._cfg, self._lay, self._shake[i], i, items,
                                  self._listed(i))

    def _render(self, i: int, items: list[RoadsideItem]) -> np.ndarray:
        img = render_scene(self._cfg, self._lay, self._sty, self._bg, i, self._shake[i],
                           self._ego_distance(i), items, self._listed(i))
        # Global exposure / white-balance drift, then sensor noise.
        img = expose(img, self._gains[i])
        if self._noise is not None:
            add_noise(img, self._noise, self._noise_offsets[i], self._cfg.noise)
        return img


def generate_sequence(config: SceneConfig) -> SyntheticSequence:
    """Generate a sequence: layout, appearance, trajectories, camera shake and lighting.

    Everything random is drawn here from ``config.seed``; the returned sequence renders any
    frame on demand, identically in every process.
    """
    rng = np.random.default_rng(config.seed)
    lay = make_layout(config, rng)
    sty = make_style(lay, config, rng)
    background = render_background(lay, sty, rng)
    shake = shake_table(config, rng)
    gains = gain_table(config, rng)
    tracks = plan_tracks(config, lay, shake, rng)
    noise, offsets = noise_table(config, rng)
    return SyntheticSequence(config, lay, sty, background, tracks, shake, gains, noise, offsets)
