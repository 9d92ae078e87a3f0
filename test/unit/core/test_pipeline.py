"""The stateful tracker: frame checks, colour order, previous frame/prior plumbing, resets.

The network is replaced by a small stand-in that puts one heatmap peak on every bright
4x4 block of the *blue* channel and records what it was given, so that the pipeline's glue
(colour order, previous image, prior heatmap, resets) can be checked exactly and quickly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from centertrack_ros.core.config import (
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
)
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.pipeline import CenterTracker, MultiCameraTracker, validate_frame
from centertrack_ros.core.preprocess import preprocess

WIDTH, HEIGHT = 96, 64
CONFIG = CenterTrackConfig(
    model=ModelConfig(arch='generic', num_classes=1),
    input=InputConfig(width=WIDTH, height=HEIGHT),
    tracker=TrackerConfig(track_thresh=0.4, pre_thresh=0.5, new_thresh=0.4),
    runtime=RuntimeConfig(device='cpu'),
)


class BlueBlobNetwork(nn.Module):
    """Stand-in network: a heatmap peak where a 4x4 input cell is bright in channel 0 (blue).

    Boxes are 4x4 cells (16x16 input pixels), offsets zero. Every call's inputs are kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def forward(self, image, pre_img=None, pre_hm=None):
        self.calls.append(tuple(None if t is None else t.detach().clone()
                                for t in (image, pre_img, pre_hm)))
        pooled = F.avg_pool2d(image[:, 0:1], 4)
        zeros = torch.zeros_like(pooled).expand(-1, 2, -1, -1)
        return {'hm': self.scale * (pooled - 1.0), 'reg': zeros.clone(),
                'wh': torch.full_like(zeros, 4.0), 'tracking': zeros.clone()}


def frame(*cells, width=WIDTH, height=HEIGHT, scale=1):
    """BGR frame with a blue 4x4 block (times ``scale``) on each (cx, cy) input cell.

    Blocks get dimmer in argument order (255, 230, ...), so scores and births follow it.
    """
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 1] = 90  # some green everywhere, so a channel swap is visible
    for index, (cx, cy) in enumerate(cells):
        y, x = 4 * cy * scale, 4 * cx * scale
        image[y:y + 4 * scale, x:x + 4 * scale, 0] = 255 - 25 * index
    return image


def tracker(config=CONFIG, engine='reference'):
    net = BlueBlobNetwork()
    return CenterTracker(net, config, engine=engine), net


def summary(tracks):
    """Id, activity and centre of each track (centres in image pixels, rounded)."""
    return sorted((t.track_id, t.active, round(float(t.ct[0]), 2), round(float(t.ct[1]), 2))
                  for t in tracks)


# ------------------------------------------------------------------------ frame checks

@pytest.mark.parametrize(('image', 'message'), [
    (np.zeros((10, 10, 3), dtype=np.float32), 'uint8'),
    (np.zeros((10, 10, 3), dtype=np.uint16), 'uint8'),
    (np.zeros((10, 10), dtype=np.uint8), 'HxWx3'),
    (np.zeros((10, 10, 4), dtype=np.uint8), 'HxWx3'),
    (np.zeros((10, 10, 1), dtype=np.uint8), 'HxWx3'),
    (np.zeros((2, 10, 10, 3), dtype=np.uint8), 'HxWx3'),
    (np.zeros((1, 10, 3), dtype=np.uint8), 'too small'),
    (np.zeros((10, 1, 3), dtype=np.uint8), 'too small'),
    ([[0, 0, 0]], 'numpy array'),
])
def test_validate_frame_rejects(image, message):
    with pytest.raises(ValueError, match=message):
        validate_frame(image)


def test_validate_frame_colour_orders():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(validate_frame(image, 'bgr'), image)
    rgb = validate_frame(image, 'rgb')
    np.testing.assert_array_equal(rgb, image[:, :, ::-1])
    assert rgb.flags['C_CONTIGUOUS']
    strided = validate_frame(np.zeros((8, 10, 3), np.uint8)[::2, ::2])
    assert strided.flags['C_CONTIGUOUS'] and strided.shape == (4, 5, 3)
    with pytest.raises(ValueError, match='color_order'):
        validate_frame(image, 'RGB')
    with pytest.raises(ValueError, match='color_order'):
        validate_frame(image, 'gray')


# ------------------------------------------------------------------------------ plumbing

def test_objects_are_tracked_across_frames():
    t, _ = tracker()
    first = t.step(frame((5, 5), (15, 10)))
    # Peaks at cells (5, 5) and (15, 10): 4 image pixels per cell (image == input size).
    assert summary(first) == [(1, 1, 20.0, 20.0), (2, 1, 60.0, 40.0)]
    second = t.step(frame((6, 5), (15, 11)))
    assert summary(second) == [(1, 2, 24.0, 20.0), (2, 2, 60.0, 44.0)]
    assert t.tracks == second
    assert t.frames_processed == 2
    np.testing.assert_allclose(second[0].bbox[2] - second[0].bbox[0], 16.0)


def test_rgb_and_bgr_give_identical_tracks():
    frames = [frame((5, 5), (15, 10)), frame((6, 5), (15, 11)), frame((7, 6))]
    bgr, _ = tracker()
    rgb, _ = tracker()
    for image in frames:
        a = bgr.step(image, color_order='bgr')
        b = rgb.step(np.ascontiguousarray(image[:, :, ::-1]), color_order='rgb')
        assert [x.to_dict() for x in a] == [y.to_dict() for y in b]
    assert len(a) == 1
    # The same RGB array read as BGR puts the blobs in the red channel: nothing found.
    wrong, _ = tracker()
    assert wrong.step(np.ascontiguousarray(frames[0][:, :, ::-1]), color_order='bgr') == []


def _same_input(a, b, engine):
    """Exactly equal on the reference path; the device path normalises in float32."""
    if engine == 'reference':
        return torch.equal(a, b)
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize('engine', ['reference', 'torch'])
def test_first_frame_uses_itself_as_previous_image_and_an_empty_prior(engine):
    t, net = tracker(engine=engine)
    images = [frame((5, 5)), frame((6, 5)), frame((7, 5))]
    for image in images:
        t.step(image)
    geometry = frame_geometry(WIDTH, HEIGHT, CONFIG.input)
    inputs = [torch.from_numpy(preprocess(i, geometry, CONFIG.input)) for i in images]
    (img0, pre0, hm0), (img1, pre1, hm1), (img2, pre2, hm2) = net.calls
    assert _same_input(img0, inputs[0], engine) and _same_input(pre0, inputs[0], engine)
    assert _same_input(img1, inputs[1], engine) and _same_input(pre1, inputs[0], engine)
    assert _same_input(pre2, inputs[1], engine)
    assert hm0.shape == (1, 1, HEIGHT, WIDTH) and not hm0.any()
    # The prior of frame 1 holds the track of frame 0: box 16x16 at x 12..28, y 12..28,
    # radius int(gaussian_radius(16, 16)) = 4, peak at (20, 20).
    assert hm1[0, 0, 20, 20] == 1.0
    assert torch.nonzero(hm1[0, 0] == 1.0).tolist() == [[20, 20]]
    assert hm1[0, 0, 20, 24] > 0 and hm1[0, 0, 20, 25] == 0
    assert hm2[0, 0, 20, 24] == 1.0


def test_prior_skips_tracks_below_pre_thresh():
    config = CONFIG.replace(tracker=TrackerConfig(track_thresh=0.4, pre_thresh=0.99999))
    t, net = tracker(config)
    t.step(frame((5, 5)))
    t.step(frame((5, 5)))
    assert not net.calls[1][2].any()  # score ~0.9999 < 0.99999
    config = CONFIG.replace(tracker=TrackerConfig(track_thresh=0.4, pre_hm=False))
    t, net = tracker(config)
    t.step(frame((5, 5)))
    t.step(frame((5, 5)))
    assert net.calls[1][2] is not None and not net.calls[1][2].any()  # zero_pre_hm


@pytest.mark.parametrize('engine', ['reference', 'torch'])
def test_reset_restarts_ids_and_forgets_the_previous_frame(engine):
    t, net = tracker(engine=engine)
    t.step(frame((5, 5)))
    t.step(frame((20, 12), (5, 5)))
    assert sorted(x.track_id for x in t.tracks) == [1, 2]
    t.reset()
    assert t.tracks == []
    out = t.step(frame((20, 12)))
    assert summary(out) == [(1, 1, 80.0, 48.0)]
    image, previous, prior = net.calls[-1]
    assert torch.equal(previous, image)
    assert not prior.any()


@pytest.mark.parametrize('engine', ['reference', 'torch'])
def test_image_size_change_starts_a_new_sequence(engine):
    t, net = tracker(engine=engine)
    t.step(frame((5, 5)))
    t.step(frame((5, 5)))
    assert [x.active for x in t.tracks] == [2]
    # Twice the size: the same content maps to the same input cells, yet it is a new
    # sequence: the previous input and the tracks are forgotten.
    big = frame((5, 5), width=2 * WIDTH, height=2 * HEIGHT, scale=2)
    out = t.step(big)
    assert summary(out) == [(1, 1, 40.0, 40.0)]
    image, previous, prior = net.calls[-1]
    assert torch.equal(previous, image) and not prior.any()
    out = t.step(big)
    assert summary(out) == [(1, 2, 40.0, 40.0)]


@pytest.mark.parametrize('engine', ['reference', 'torch'])
def test_set_tracker_config_keeps_tracks(engine):
    t, _ = tracker(engine=engine)
    t.step(frame((5, 5), (15, 10)))
    t.set_tracker_config(TrackerConfig(track_thresh=0.3, max_age=3, K=10))
    assert t.config.tracker.max_age == 3 and t.manager.config.K == 10
    out = t.step(frame((5, 5)))
    # Track 1 continues; track 2 is now kept (inactive) under the new max_age.
    assert summary(out) == [(1, 2, 20.0, 20.0), (2, 0, 60.0, 40.0)]
    t.set_tracker_config(TrackerConfig(track_thresh=0.3, K=1))
    out = t.step(frame((5, 5), (15, 10)))  # K = 1: only one detection reaches the tracker
    assert [(x.track_id, x.active) for x in out] == [(1, 3)]


def test_torch_engine_on_cpu_gives_the_same_tracks():
    frames = [frame((5, 5), (15, 10)), frame((6, 5), (15, 11)), frame((7, 6)), frame()]
    ref, _ = tracker(engine='reference')
    fast, _ = tracker(engine='torch')
    for image in frames:
        a, b = ref.step(image), fast.step(image)
        assert summary(a) == summary(b)


def test_tracks_of_earlier_frames_are_not_changed():
    config = CONFIG.replace(tracker=TrackerConfig(track_thresh=0.4, max_age=3))
    t, _ = tracker(config)
    first = t.step(frame((5, 5), (15, 10)))
    saved = [x.to_dict() for x in first]
    t.step(frame((6, 5)))
    t.step(frame())
    assert [x.to_dict() for x in first] == saved


# ------------------------------------------------------------------------ multi-camera

def test_cameras_are_independent():
    cameras = MultiCameraTracker(BlueBlobNetwork(), CONFIG, num_cameras=2)
    a, b = cameras.step_all([frame((5, 5)), frame((10, 3), (20, 12))])
    assert summary(a) == [(1, 1, 20.0, 20.0)]
    assert summary(b) == [(1, 1, 40.0, 12.0), (2, 1, 80.0, 48.0)]
    cameras.reset(camera=1)
    a, b = cameras.step_all([frame((5, 5)), frame((10, 3))])
    assert summary(a) == [(1, 2, 20.0, 20.0)]
    assert summary(b) == [(1, 1, 40.0, 12.0)]
    with pytest.raises(ValueError, match='expected 2 frames'):
        cameras.step_all([frame()])


def test_many_other_image_sizes_do_not_reset_a_camera():
    t, _ = tracker()
    t.step(frame((5, 5)))
    # Other cameras (or trackers) in the process see other sizes in between; the size
    # check relies on the cached geometry's identity, which must survive that.
    for width in range(100, 100 + 200 * 4, 4):
        frame_geometry(width, 64, CONFIG.input)
    out = t.step(frame((5, 5)))
    assert [(x.track_id, x.active) for x in out] == [(1, 2)]
