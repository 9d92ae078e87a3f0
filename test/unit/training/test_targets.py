"""Training targets, prior-heatmap disturbances, augmentation, losses and the sampling DCN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import deform_conv2d

from centertrack_ros.core.geometry import affine_transform_matrix
from centertrack_ros.core.prior import gaussian_radius
from centertrack_ros.training.augment import AugmentConfig, color_augment, random_view
from centertrack_ros.training.deform import sampling_deform_conv2d, use_sampling_deform_conv
from centertrack_ros.training.losses import CenterTrackLoss, clamped_sigmoid, focal_loss, masked_l1
from centertrack_ros.training.targets import (
    Annotation,
    Disturbance,
    build_targets,
    map_box,
    render_prior,
)

# A 128x64 image seen whole: output cells are exactly 4x4 image pixels, input pixels 1x1.
IMAGE_W, IMAGE_H = 128, 64
CENTER = np.array([IMAGE_W / 2, IMAGE_H / 2], dtype=np.float32)
TO_OUTPUT = affine_transform_matrix(CENTER, IMAGE_W, (IMAGE_W // 4, IMAGE_H // 4))
TO_INPUT = affine_transform_matrix(CENTER, IMAGE_W, (IMAGE_W, IMAGE_H))
OUT_W, OUT_H = IMAGE_W // 4, IMAGE_H // 4


def _targets(annotations, pre=None, ltrb_amodal=False, num_classes=2, max_objs=8):
    return build_targets(annotations, TO_OUTPUT, OUT_W, OUT_H, num_classes, max_objs, pre,
                         ltrb_amodal)


def test_transform_is_exactly_a_quarter():
    assert np.allclose(map_box((40, 20, 60, 44), TO_OUTPUT), (10, 5, 15, 11), atol=1e-4)


def test_targets_of_a_known_box():
    ann = Annotation((40, 20, 60, 44), class_id=2, track_id=7)
    t = _targets([ann], pre={7: np.array([10.0, 7.5], dtype=np.float32)})
    # Output box (10, 5, 15, 11): centre (12.5, 8), peak cell (12, 8).
    assert t['hm'].shape == (2, OUT_H, OUT_W)
    assert t['hm'][1, 8, 12] == 1.0
    assert t['hm'][1].max() == 1.0 and np.count_nonzero(t['hm'][1] == 1.0) == 1
    assert t['hm'][0].max() == 0.0
    radius = max(0, int(gaussian_radius(6, 5)))
    assert radius >= 1
    assert 0 < t['hm'][1, 8, 12 + radius] < 1 and t['hm'][1, 8, 12 + radius + 1] == 0
    assert t['ind'][0] == 8 * OUT_W + 12
    assert t['cat'][0] == 1 and t['mask'][0] == 1
    assert np.allclose(t['reg'][0], (0.5, 0.0)) and np.all(t['reg_mask'][0] == 1)
    assert np.allclose(t['wh'][0], (5.0, 6.0)) and np.all(t['wh_mask'][0] == 1)
    assert np.allclose(t['tracking'][0], (10.0 - 12, 7.5 - 8))
    assert np.all(t['tracking_mask'][0] == 1)
    assert t['mask'][1:].sum() == 0 and t['wh_mask'][1:].sum() == 0


def test_tracking_target_needs_the_track_in_the_prior():
    ann = Annotation((40, 20, 60, 44), class_id=1, track_id=7)
    t = _targets([ann], pre={8: np.array([1.0, 1.0], dtype=np.float32)})
    assert t['mask'][0] == 1 and t['tracking_mask'].sum() == 0


def test_box_cut_by_the_border_clips_centre_and_keeps_the_amodal_extent():
    ann = Annotation((-20, 20, 20, 44), class_id=1, track_id=1)
    t = _targets([ann], ltrb_amodal=True)
    # Clipped output box (0, 5, 5, 11): centre (2.5, 8); amodal box (-5, 5, 5, 11).
    assert t['ind'][0] == 8 * OUT_W + 2
    assert np.allclose(t['wh'][0], (5, 6))
    assert np.allclose(t['ltrb_amodal'][0], (-5 - 2, 5 - 8, 5 - 2, 11 - 8))
    assert np.all(t['ltrb_amodal_mask'][0] == 1)


def test_ignore_regions_raise_the_heatmap_without_positives():
    everything = _targets([Annotation((40, 20, 60, 44), class_id=0)])
    assert everything['mask'].sum() == 0
    assert np.all(everything['hm'][:, 5:12, 10:16] == 1) and everything['hm'].sum() == 2 * 42
    one_class = _targets([Annotation((40, 20, 60, 44), class_id=-2)])
    assert np.all(one_class['hm'][1, 5:12, 10:16] == 1) and one_class['hm'][0].max() == 0
    dropped = _targets([Annotation((40, 20, 60, 44), class_id=-999),
                        Annotation((40, 20, 60, 44), class_id=3)])
    assert dropped['hm'].max() == 0 and dropped['mask'].sum() == 0


def test_slots_follow_annotation_order_and_stop_at_max_objs():
    anns = [Annotation((4 * k, 4, 4 * k + 8, 20), 1, k) for k in range(5)]
    t = _targets(anns, max_objs=3)
    assert list(t['mask']) == [1, 1, 1]
    assert list(t['ind']) == [3 * OUT_W + 1 + k for k in range(3)]


def test_annotation_flip_mirrors_the_box():
    ann = Annotation((10, 5, 30, 25), 1, 3, amodal_box=(-5, 5, 30, 25))
    flipped = ann.flipped(100)
    assert flipped.bbox == (70, 5, 90, 25) and flipped.amodal_box == (70, 5, 105, 25)
    assert flipped.flipped(100) == ann


def _peaks(heatmap):
    h = torch.from_numpy(heatmap)[None]
    pooled = torch.nn.functional.max_pool2d(h, 3, 1, 1)
    return int(((pooled == h) & (h > 0.99)).sum())


def test_prior_without_disturbance_marks_each_object_once():
    anns = [Annotation((40, 20, 60, 44), 1, 4), Annotation((90, 10, 110, 50), 2, 5),
            Annotation((0, 0, 10, 10), 0, -1)]
    rng = np.random.default_rng(0)
    pre_hm, centres = render_prior(anns, TO_INPUT, IMAGE_W, IMAGE_H, 2, Disturbance(), rng)
    assert pre_hm.shape == (1, IMAGE_H, IMAGE_W) and pre_hm.dtype == np.float32
    assert pre_hm[0, 32, 50] == 1.0 and pre_hm[0, 30, 100] == 1.0
    assert _peaks(pre_hm[0]) == 2
    assert set(centres) == {4, 5}
    assert np.allclose(centres[4], (50 / 4, 32 / 4)) and np.allclose(centres[5], (25, 7.5))


@pytest.mark.parametrize('seed', range(5))
def test_disturbances_keep_shapes_and_ranges(seed):
    rng = np.random.default_rng(seed)
    anns = [Annotation((x, y, x + w, y + h), int(c), k) for k, (x, y, w, h, c) in enumerate(
        zip(rng.uniform(-20, 120, 12), rng.uniform(-10, 60, 12), rng.uniform(2, 40, 12),
            rng.uniform(2, 40, 12), rng.integers(1, 3, 12)))]
    pre_hm, centres = render_prior(anns, TO_INPUT, IMAGE_W, IMAGE_H, 2,
                                   Disturbance(0.2, 0.4, 0.5), rng)
    assert pre_hm.shape == (1, IMAGE_H, IMAGE_W)
    assert pre_hm.min() >= 0 and pre_hm.max() <= 1
    for ct in centres.values():
        assert ct.shape == (2,) and np.all(np.isfinite(ct))


def test_lost_disturbance_empties_the_prior_but_keeps_jittered_targets():
    ann = Annotation((40, 20, 60, 44), 1, 9)
    rng = np.random.default_rng(3)
    pre_hm, centres = render_prior([ann], TO_INPUT, IMAGE_W, IMAGE_H, 1,
                                   Disturbance(0.1, 1.0, 0.0), rng)
    assert pre_hm.max() == 0
    assert not np.allclose(centres[9], (50 / 4, 32 / 4))  # points at the jittered centre
    assert np.allclose(centres[9], (50 / 4, 32 / 4), atol=3)


def test_false_positive_disturbance_adds_a_second_peak():
    ann = Annotation((20, 4, 100, 60), 1, 9)
    counts = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        pre_hm, _ = render_prior([ann], TO_INPUT, IMAGE_W, IMAGE_H, 1,
                                 Disturbance(0.0, 0.0, 1.0), rng)
        counts.append(_peaks(pre_hm[0]))
    assert max(counts) == 2 and min(counts) >= 1


def test_disturbance_validation():
    with pytest.raises(ValueError):
        Disturbance(lost_disturb=1.5)
    with pytest.raises(ValueError):
        Disturbance(hm_disturb=-0.1)


def test_random_view_ranges():
    config = AugmentConfig()
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, s = random_view(np.array([320, 192]), 640, 640, 384, config, rng)
        assert 128 <= c[0] < 512 and 128 <= c[1] < 256 and s in config.crop_scales
        c, s = random_view(np.array([320, 192]), 640, 640, 384, config, rng, jitter_only=True)
        assert abs(c[0] - 320) <= 2 * 0.05 * 640 + 1e-3 and 0.9 <= s <= 1.1


def test_color_augment_changes_colours_in_place_within_bounds():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (16, 16, 3)).astype(np.float32)
    before = image.copy()
    color_augment(image, rng)
    assert image.dtype == np.float32 and not np.allclose(image, before)
    assert image.min() > -0.5 and image.max() < 1.5


def _dense_focal(prob, target):
    """CornerNet's focal loss written over the dense map (positives where the target is 1)."""
    pos = target == 1
    pos_loss = (torch.log(prob) * (1 - prob) ** 2)[pos].sum()
    neg_loss = (torch.log(1 - prob) * prob ** 2 * (1 - target) ** 4)[~pos].sum()
    return -(pos_loss + neg_loss) / pos.sum()


def test_focal_loss_matches_the_dense_definition():
    anns = [Annotation((40, 20, 60, 44), 2, 1), Annotation((80, 8, 100, 40), 1, 2)]
    t = _targets(anns)
    torch.manual_seed(0)
    logits = torch.randn(1, 2, OUT_H, OUT_W)
    prob = clamped_sigmoid(logits)
    batch = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    fast = focal_loss(prob, batch['hm'], batch['ind'], batch['mask'], batch['cat'])
    assert torch.allclose(fast, _dense_focal(prob, batch['hm']), rtol=1e-5)
    # No objects: only the negative term, not normalised.
    empty = focal_loss(prob, torch.zeros_like(prob), batch['ind'], torch.zeros_like(
        batch['mask']), batch['cat'])
    assert torch.allclose(empty, -(torch.log(1 - prob) * prob ** 2).sum())


def test_masked_l1_averages_over_masked_entries():
    output = torch.zeros(1, 2, 4, 4)
    output[0, :, 1, 2] = torch.tensor([1.0, 2.0])
    ind = torch.tensor([[6, 0]])
    target = torch.tensor([[[2.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert torch.allclose(masked_l1(output, mask, ind, target), torch.tensor(1.5), atol=1e-4)


def test_loss_weights_and_total():
    t = _targets([Annotation((40, 20, 60, 44), 1, 1)])
    batch = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    outputs = {'hm': torch.zeros(1, 2, OUT_H, OUT_W), 'reg': torch.zeros(1, 2, OUT_H, OUT_W),
               'wh': torch.zeros(1, 2, OUT_H, OUT_W)}
    total, stats = CenterTrackLoss()(outputs, batch)
    assert set(stats) == {'hm', 'reg', 'wh', 'tot'}
    expected = stats['hm'] + stats['reg'] + 0.1 * stats['wh']
    assert torch.allclose(total, expected)
    assert torch.allclose(stats['wh'], torch.tensor(5.5), atol=1e-3)  # |0-5| and |0-6|


def test_sampling_deform_conv_equals_torchvision_values_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 11, dtype=torch.float64, requires_grad=True)
    offset = (torch.randn(2, 18, 9, 11, dtype=torch.float64) * 2.5).requires_grad_()
    mask = torch.rand(2, 9, 9, 11, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    ref = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    ours = sampling_deform_conv2d(x, offset, weight, bias, mask)
    assert torch.allclose(ref, ours, atol=1e-10)
    inputs = [x, offset, mask, weight, bias]
    g_ref = torch.autograd.grad((ref ** 2).sum(), inputs)
    g_ours = torch.autograd.grad((ours ** 2).sum(), inputs)
    for a, b in zip(g_ref, g_ours):
        assert torch.allclose(a, b, atol=1e-8)


def test_switching_a_network_to_sampling_deform_conv_keeps_its_outputs():
    from centertrack_ros.core.config import ModelConfig
    from centertrack_ros.core.models.networks import build_network

    torch.manual_seed(0)
    network = build_network(ModelConfig(arch='generic', num_classes=2)).eval()
    with torch.no_grad():
        for module in network.modules():
            if hasattr(module, 'conv_offset_mask'):
                module.conv_offset_mask.weight.normal_(0, 0.1)
    x = torch.randn(1, 3, 64, 96)
    hm = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        before = network(x, x, hm)
        assert use_sampling_deform_conv(network) > 0
        after = network(x, x, hm)
    assert set(network.state_dict()) == set(build_network(
        ModelConfig(arch='generic', num_classes=2)).state_dict())
    for name in before:
        assert torch.allclose(before[name], after[name], atol=1e-4), name
