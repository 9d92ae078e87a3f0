"""The device type without torch, and whom ``resolve_device`` asks about CUDA."""

from __future__ import annotations

import logging

import onnxruntime
import pytest
import torch

from centertrack_ros.core.device import (
    GPU_PROVIDERS,
    Device,
    cpu_model,
    device_name,
    resolve_device,
)
from centertrack_ros.core.errors import DeviceError

ORT_HAS_GPU = any(p in onnxruntime.get_available_providers() for p in GPU_PROVIDERS)


@pytest.mark.parametrize('spec, kind, index', [('cpu', 'cpu', None), ('cuda', 'cuda', None),
                                               ('cuda:0', 'cuda', 0), ('cuda:12', 'cuda', 12)])
def test_device_reads_and_writes_like_torch(spec, kind, index):
    device = Device(spec)
    assert (device.type, device.index, str(device)) == (kind, index, str(torch.device(spec)))
    assert device == torch.device(spec) and torch.device(spec) == device
    assert Device(torch.device(spec)) == device and hash(device) == hash(spec)
    assert repr(device) == f"Device('{spec}')"


def test_devices_differ_and_bad_names_are_refused():
    assert Device('cuda:0') != torch.device('cuda:1') and Device('cuda') != Device('cuda:0')
    assert Device('cpu') != torch.device('cuda')
    for bad in ('gpu', 'cuda:', 'cuda:x', 'cuda:-1', 'cpu:0', 'CUDA', ''):
        with pytest.raises(DeviceError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            Device(bad)


def test_torch_takes_a_device_where_it_takes_one():
    device = Device('cpu')
    assert torch.zeros(2, device=device).device == torch.device('cpu')
    assert next(torch.nn.Linear(2, 2).to(device).parameters()).device.type == 'cpu'
    assert torch.device(device) == torch.device('cpu')


def test_cpu_resolves_without_asking_anyone():
    assert resolve_device('cpu') == Device('cpu')
    assert resolve_device('cpu', 'onnxruntime').type == 'cpu'


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only answers')
def test_auto_falls_back_and_cuda_fails_when_torch_sees_no_gpu(caplog):
    with caplog.at_level(logging.WARNING, logger='centertrack_ros'):
        assert resolve_device('auto', 'torch') == 'cpu'
    assert 'CUDA is not available (torch ' in caplog.text
    with pytest.raises(DeviceError, match=r"device 'cuda:0' requested but CUDA is not "
                                          r'available \(torch .*use device:=auto or cpu'):
        resolve_device('cuda:0', 'reference')


@pytest.mark.skipif(ORT_HAS_GPU, reason='checks an onnxruntime without GPU providers')
def test_onnxruntime_without_gpu_providers_means_the_cpu(caplog):
    """With the onnxruntime engine, CUDA counts only where onnxruntime could use it."""
    with caplog.at_level(logging.WARNING, logger='centertrack_ros'):
        assert resolve_device('auto', 'onnxruntime') == 'cpu'
    assert 'has no CUDA or TensorRT provider; install onnxruntime-gpu' in caplog.text
    with pytest.raises(DeviceError, match='has no CUDA or TensorRT provider'):
        resolve_device('cuda', 'onnxruntime')


@pytest.mark.gpu
@pytest.mark.skipif(not ORT_HAS_GPU, reason='needs onnxruntime with a GPU provider')
def test_onnxruntime_with_gpu_providers_finds_the_gpus():
    count = torch.cuda.device_count()
    assert resolve_device('auto', 'onnxruntime') == 'cuda'
    assert resolve_device(f'cuda:{count - 1}', 'onnxruntime').index == count - 1
    with pytest.raises(DeviceError, match=f'only {count} CUDA device'):
        resolve_device(f'cuda:{count}', 'onnxruntime')


def test_device_names():
    assert device_name(Device('cpu'), threads=3) == f'cpu ({cpu_model()}, 3 threads)'
    assert device_name(torch.device('cpu')) == \
        f'cpu ({cpu_model()}, {torch.get_num_threads()} threads)'
    if torch.cuda.is_available():
        assert device_name(Device('cuda:0')) == f'cuda:0 ({torch.cuda.get_device_name(0)})'
