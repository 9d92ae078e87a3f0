"""The networks: official parameter names, output shapes and the deformable convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from support import reference_data as ref

from centertrack_ros.core.checkpoint import read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, ModelConfig
from centertrack_ros.core.models.dcn import ModulatedDeformConv2d
from centertrack_ros.core.models.dla import DLA34
from centertrack_ros.core.models.mobilenet import MobileNetV2Backbone
from centertrack_ros.core.models.networks import build_network


@pytest.mark.parametrize('folder', ref.folder_params(lambda p: (p / 'model.pth').is_file(),
                                                     'reference checkpoints'))
def test_parameter_names_and_shapes_equal_the_official_checkpoint(folder):
    options = ref.expected(folder)['config']
    config = CenterTrackConfig.from_official_options(options)
    ours = build_network(config.model).state_dict()
    theirs = read_checkpoint(str(folder / 'model.pth')).state_dict
    assert sorted(set(theirs) - set(ours)) == []
    assert sorted(set(ours) - set(theirs)) == []
    wrong = [(n, tuple(ours[n].shape), tuple(theirs[n].shape)) for n in ours
             if ours[n].shape != theirs[n].shape]
    assert wrong == []


# ------------------------------------------------------------------------------ shapes

NETWORKS = [
    ModelConfig(arch='dla_34', num_classes=3),
    ModelConfig(arch='generic', backbone='mobilenet', num_classes=1, ltrb_amodal=True),
]


def _randomise(net: torch.nn.Module) -> torch.nn.Module:
    """Give every layer non-trivial weights (fan-in scaled) and batch-norm statistics."""
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith('running_var'):
                tensor.copy_(1 + 0.1 * torch.rand_like(tensor))
            elif tensor.dim() > 1:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn_like(tensor) / fan_in ** 0.5)
            else:
                tensor.add_(0.1 * torch.randn_like(tensor))
    return net


@pytest.fixture(scope='module', params=NETWORKS, ids=['dla_34', 'generic-mobilenet'])
def network(request):
    torch.manual_seed(0)
    return request.param, _randomise(build_network(request.param)).eval()


@pytest.mark.parametrize(('height', 'width'), [(64, 96), (128, 160)])
def test_output_shapes(network, height, width):
    config, net = network
    image = torch.randn(2, 3, height, width)
    with torch.no_grad():
        out = net(image, image.flip(0), torch.rand(2, 1, height, width))
    assert list(out) == list(config.heads)
    for name, channels in config.heads.items():
        assert out[name].shape == (2, channels, height // 4, width // 4), name
        assert out[name].dtype == torch.float32


def test_previous_inputs_change_the_output(network):
    _, net = network
    torch.manual_seed(1)
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        base = net(image, image, torch.zeros(1, 1, 64, 96))['hm']
        again = net(image, image, torch.zeros(1, 1, 64, 96))['hm']
        other_img = net(image, torch.randn(1, 3, 64, 96), torch.zeros(1, 1, 64, 96))['hm']
        other_hm = net(image, image, torch.ones(1, 1, 64, 96))['hm']
    assert torch.equal(base, again)
    # Both extra stems are added to the image stem: changing either changes the heatmap.
    assert (base - other_img).abs().max() > 1e-4
    assert (base - other_hm).abs().max() > 1e-4


def test_heads_layout_and_initial_biases():
    config = ModelConfig(arch='generic', num_classes=4, ltrb_amodal=True, head_conv=32,
                         prior_bias=-2.19)
    net = build_network(config)
    state = net.state_dict()
    for name, channels in config.heads.items():
        assert state[f'{name}.0.weight'].shape == (32, 24, 3, 3)
        assert state[f'{name}.2.weight'].shape == (channels, 32, 1, 1)
        expected = -2.19 if name == 'hm' else 0.0
        assert torch.all(state[f'{name}.2.bias'] == expected), name


def test_networks_without_previous_inputs():
    for arch in ('dla_34', 'generic'):
        config = ModelConfig(arch=arch, pre_img=False, pre_hm=False)
        net = build_network(config).eval()
        names = list(net.state_dict())
        assert not any('pre_img_layer' in n or 'pre_hm_layer' in n for n in names)
        with torch.no_grad():
            out = net(torch.randn(1, 3, 64, 64))
        assert out['hm'].shape == (1, 1, 16, 16)
    with_inputs = build_network(ModelConfig(arch='dla_34')).state_dict()
    assert 'base.pre_img_layer.0.weight' in with_inputs
    assert 'base.pre_hm_layer.0.weight' in with_inputs
    assert with_inputs['base.pre_hm_layer.0.weight'].shape == (16, 1, 7, 7)


def test_backbone_levels():
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        dla = DLA34().eval()(image)
        mobilenet_backbone = MobileNetV2Backbone().eval()
        mobile = mobilenet_backbone(image)
    assert [f.shape[1] for f in dla] == [16, 32, 64, 128, 256, 512]
    assert [64 // f.shape[2] for f in dla] == [1, 2, 4, 8, 16, 32]
    # MobileNetV2: stem, then the last block of each resolution.
    assert mobilenet_backbone.channels == [32, 16, 24, 32, 96, 320]
    assert [f.shape[1] for f in mobile] == [32, 16, 24, 32, 96, 320]
    assert [64 // f.shape[2] for f in mobile] == [2, 2, 4, 8, 16, 32]


def test_upsampling_is_initialised_bilinear():
    state = build_network(ModelConfig(arch='dla_34')).state_dict()
    two = torch.tensor([0.25, 0.75, 0.75, 0.25])
    four = torch.tensor([1, 3, 5, 7, 7, 5, 3, 1]) / 8
    up2 = state['ida_up.up_1.weight']   # factor 2: kernel 4, stride 2
    up4 = state['ida_up.up_2.weight']   # factor 4: kernel 8, stride 4
    assert up2.shape == (64, 1, 4, 4) and up4.shape == (64, 1, 8, 8)
    assert torch.allclose(up2[5, 0], torch.outer(two, two))
    assert torch.allclose(up4[63, 0], torch.outer(four, four))
    # Depthwise bilinear upsampling keeps a constant map constant away from the border.
    up = torch.nn.ConvTranspose2d(64, 64, 8, stride=4, padding=2, groups=64, bias=False)
    up.weight.data.copy_(up4)
    with torch.no_grad():
        out = up(torch.full((1, 64, 6, 6), 3.0))
    assert out.shape == (1, 64, 24, 24)
    assert torch.allclose(out[0, :, 4:-4, 4:-4], torch.tensor(3.0))


# -------------------------------------------------------------------------------- DCN

def _dcn(seed=0, channels=(5, 7)):
    torch.manual_seed(seed)
    dcn = ModulatedDeformConv2d(*channels)
    with torch.no_grad():
        dcn.bias.uniform_(-1, 1)
    return dcn


def _set_offsets(dcn, dy=0.0, dx=0.0, mask_logit=30.0):
    """Constant offsets for every tap: channels 2k/2k+1 of [o1, o2] are dy/dx of tap k."""
    with torch.no_grad():
        dcn.conv_offset_mask.weight.zero_()
        bias = torch.zeros(27)
        bias[0:18:2] = dy
        bias[1:18:2] = dx
        bias[18:] = mask_logit
        dcn.conv_offset_mask.bias.copy_(bias)


def test_dcn_default_init_is_half_a_plain_convolution():
    # Zero offset/mask convolution: offsets 0, mask sigmoid(0) = 0.5 on the sampled values.
    dcn = _dcn()
    x = torch.randn(2, 5, 9, 11)
    with torch.no_grad():
        got = dcn(x)
        expected = 0.5 * F.conv2d(x, dcn.weight, None, padding=1) + dcn.bias[None, :, None,
                                                                               None]
    assert torch.allclose(got, expected, atol=1e-5)


def test_dcn_with_zero_offsets_and_full_mask_is_a_convolution():
    dcn = _dcn(1)
    _set_offsets(dcn)
    x = torch.randn(1, 5, 8, 13)
    with torch.no_grad():
        assert torch.allclose(dcn(x), F.conv2d(x, dcn.weight, dcn.bias, padding=1),
                              atol=1e-5)


def _sample(x, ys, xs):
    """Bilinear samples of ``x`` at the grid ``ys`` x ``xs``, zero outside the image."""
    height, width = x.shape[2:]
    out = torch.zeros(x.shape[0], x.shape[1], len(ys), len(xs))
    y0, x0 = torch.floor(ys)[:, None], torch.floor(xs)[None, :]
    fy, fx = ys[:, None] - y0, xs[None, :] - x0
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            yy = (y0 + oy).long().expand(len(ys), len(xs))
            xx = (x0 + ox).long().expand(len(ys), len(xs))
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            values = x[:, :, yy.clamp(0, height - 1), xx.clamp(0, width - 1)]
            out += values * (wy * wx * inside)
    return out


@pytest.mark.parametrize(('dy', 'dx'), [(0, 1), (1, 0), (-1, 2), (0.5, 0), (0, -0.25),
                                        (0.3, -1.7)])
def test_dcn_offsets_are_dy_dx_interleaved(dy, dx):
    """Constant offsets move every tap by (dy, dx): bilinear, zero outside the image."""
    dcn = _dcn(2)
    _set_offsets(dcn, dy=dy, dx=dx)
    x = torch.randn(1, 5, 10, 12)
    # Tap (i, j) of output (y, x) reads position (y + i - 1 + dy, x + j - 1 + dx): sample the
    # padded grid -1 .. size at the shifted positions, then run an unpadded convolution.
    shifted = _sample(x, torch.arange(-1, 11, dtype=torch.float32) + dy,
                      torch.arange(-1, 13, dtype=torch.float32) + dx)
    with torch.no_grad():
        expected = F.conv2d(shifted, dcn.weight, dcn.bias)
        assert torch.allclose(dcn(x), expected, atol=1e-5)


def test_dcn_mask_scales_each_tap():
    dcn = _dcn(3)
    x = torch.randn(1, 5, 6, 7)
    _set_offsets(dcn, mask_logit=-30.0)  # mask 0: only the bias remains
    with torch.no_grad():
        out = dcn(x)
    assert torch.allclose(out, dcn.bias[None, :, None, None].expand_as(out), atol=1e-6)
    # Only the centre tap (k = 4) on: a 1x1 convolution with the centre weights.
    _set_offsets(dcn, mask_logit=-30.0)
    with torch.no_grad():
        dcn.conv_offset_mask.bias[18 + 4] = 30.0
        expected = F.conv2d(x, dcn.weight[:, :, 1:2, 1:2], dcn.bias)
        assert torch.allclose(dcn(x), expected, atol=1e-5)


def test_dcn_parameter_names_are_dcnv2s():
    names = dict(ModulatedDeformConv2d(4, 6).named_parameters())
    assert {n: tuple(p.shape) for n, p in names.items()} == {
        'weight': (6, 4, 3, 3), 'bias': (6,), 'conv_offset_mask.weight': (27, 4, 3, 3),
        'conv_offset_mask.bias': (27,)}
