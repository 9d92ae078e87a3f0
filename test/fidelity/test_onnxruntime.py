"""The onnxruntime engine: the exported network computes what PyTorch does, cached and named.

Its fidelity to the official outputs runs in ``test_reference`` (network and pipeline of every
reference folder through ONNX Runtime); this module checks the network against PyTorch on the
bundled model, batching, the export cache, ``.onnx`` files as models, and what happens when
ONNX Runtime cannot run a model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from support import reference_data as ref

from centertrack_ros.core import engines
from centertrack_ros.core.checkpoint import CheckpointError
from centertrack_ros.core.config import RuntimeConfig, TrackerOverrides
from centertrack_ros.core.engines import EngineError, OnnxRuntimeEngine, ReferenceEngine
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.model_spec import ModelSpec, load_model, load_tracker
from centertrack_ros.core.onnx_model import cache_key, cached_export, read_metadata
from centertrack_ros.core.preprocess import preprocess
from centertrack_ros.core.prior import draw_peaks, prior_peaks
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools import export

pytestmark = pytest.mark.equality



@pytest.fixture(scope='module')
def bundled():
    return load_model(ModelSpec(), RuntimeConfig(device='cpu'))


@pytest.fixture(scope='module')
def frames():
    sequence = generate_sequence(SceneConfig(seed=1, num_frames=8))
    return [sequence.image(i) for i in range(len(sequence))]


def test_network_equals_pytorch_on_camera_frames(bundled, frames):
    """The graph's heads equal PyTorch's, fed the inputs the tracker builds frame by frame.

    Within the reference README's network rule (1e-3 + 2e-2 x a head's range). Measured on the
    2-core AMD EPYC, default kernels and SSE4.1 with one thread: scores 5e-5 apart, the other
    heads 1.3e-3 of their range, at most 6 % of the bound.
    """
    tracker = bundled.tracker(engine='reference')
    session = load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu',
                                                              engine='onnxruntime'))
    assert isinstance(session.engine, OnnxRuntimeEngine)
    worst: dict[str, float] = {}
    config = bundled.config
    previous = None
    for frame in frames:
        geometry = frame_geometry(frame.shape[1], frame.shape[0], config.input)
        image = preprocess(frame, geometry, config.input)
        prior = draw_peaks(prior_peaks(tracker.tracks, geometry,
                                       config.tracker.effective_pre_thresh),
                           config.input.height, config.input.width)[None, None]
        inputs = {'image': image, 'pre_image': image if previous is None else previous,
                  'pre_hm': prior}
        feed = {i.name: inputs[i.name] for i in session.engine.session.get_inputs()}
        names = [o.name for o in session.engine.session.get_outputs()]
        got = dict(zip(names, session.engine.session.run(names, feed)))
        with torch.no_grad():
            expected = bundled.network(*(torch.from_numpy(inputs[n])
                                         for n in ('image', 'pre_image', 'pre_hm')))
        for head, value in expected.items():
            value, mine = value.numpy(), got[head]
            if head == 'hm':  # compared as scores, as the reference README does
                value, mine = (torch.sigmoid(torch.from_numpy(v)).numpy() for v in (value, mine))
            deviation = float(np.abs(mine - value).max())
            bound = ref.network_bound(value)
            assert deviation <= bound, f'{head} off by {deviation:.3g} > {bound:.3g}'
            worst[head] = max(worst.get(head, 0.0), deviation / bound)
        tracker.step(frame)
        previous = image
    print(f'onnxruntime vs PyTorch, bundled model, fraction of the bound: {worst}')


@pytest.mark.parametrize('folder', ref.folder_params(ref.is_pipeline, 'pipeline folders'))
def test_batch_equals_one_camera_at_a_time(folder: Path):
    """Two cameras in one ONNX Runtime call (dynamic batch) track as two single cameras."""
    config = ref.official_config(folder)
    spec = ModelSpec(path=str(folder / 'model.pth'), input_width=config.input.width,
                     input_height=config.input.height, mean=config.input.mean,
                     std=config.input.std)
    model = load_model(spec, RuntimeConfig(device='cpu', engine='onnxruntime'))
    overrides = TrackerOverrides.of(config.tracker)
    single, other = model.tracker(overrides), model.tracker(overrides)
    batched = model.tracker(overrides, num_cameras=2)
    images = ref.frames(folder)
    small = [np.ascontiguousarray(f[::2, ::2]) for f in reversed(images)]
    results = [batched.step_all([a, b]) for a, b in zip(images, small)]
    ref.assert_same_results([(ref.as_dicts(r[0]), ref.as_dicts(single.step(f)))
                             for r, f in zip(results, images)], ref.PIPELINE, 'camera 0')
    ref.assert_same_results([(ref.as_dicts(r[1]), ref.as_dicts(other.step(f)))
                             for r, f in zip(results, small)], ref.PIPELINE, 'camera 1')


def test_exports_are_cached_by_content(bundled, tmp_path):
    first = cached_export(bundled.network, bundled.config, tmp_path)
    stamp = first.stat().st_mtime_ns
    again = cached_export(bundled.network, bundled.config, tmp_path)
    assert again == first and again.stat().st_mtime_ns == stamp, 'exported once'
    assert list((tmp_path / 'onnx').iterdir()) == [first]
    bigger = bundled.config.replace(input=bundled.config.input.__class__(width=352, height=192))
    assert cache_key(bundled.network, bigger) != cache_key(bundled.network, bundled.config)
    changed = load_model(ModelSpec(), RuntimeConfig(device='cpu')).network
    with torch.no_grad():
        changed.hm[-1].bias.add_(1e-3)
    assert cache_key(changed, bundled.config) != cache_key(bundled.network, bundled.config)
    assert read_metadata(first)['model']['class_names'] == list(bundled.config.model.class_names)


def test_an_exported_file_runs_as_the_model(tmp_path, frames, capsys):
    """centertrack_export writes a self-describing file; model.path may name it."""
    path = tmp_path / 'bundled.onnx'
    assert export.main(['--output', str(path)]) == 0
    assert 'largest deviation from PyTorch' in capsys.readouterr().out
    from_file = load_tracker(ModelSpec(path=str(path)), runtime=RuntimeConfig(device='cpu'))
    from_checkpoint = load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu',
                                                                      engine='onnxruntime'))
    assert from_file.network is None and from_file.engine.name == 'onnxruntime'
    assert from_file.config.model == from_checkpoint.config.model
    assert from_file.config.tracker == from_checkpoint.config.tracker
    ref.assert_same_results([(ref.as_dicts(from_file.step(f)), ref.as_dicts(
        from_checkpoint.step(f))) for f in frames], ref.PIPELINE, 'exported file')
    with pytest.raises(EngineError, match='only the onnxruntime engine runs'):
        load_tracker(ModelSpec(path=str(path)), runtime=RuntimeConfig(device='cpu',
                                                                      engine='reference'))
    with pytest.raises(CheckpointError, match='takes 320x192 inputs'):
        load_model(ModelSpec(path=str(path), input_width=640))


def test_a_foreign_onnx_file_needs_a_description(tmp_path):
    path = tmp_path / 'bundled.onnx'
    assert export.main(['--output', str(path), '--no-check']) == 0
    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    foreign = tmp_path / 'foreign.onnx'
    onnx.save(graph, str(foreign))
    with pytest.raises(CheckpointError, match='no centertrack_ros metadata.*model.preset'):
        load_model(ModelSpec(path=str(foreign)))
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='cannot read ONNX file'):
        load_model(ModelSpec(path=str(broken)))


def test_auto_falls_back_and_a_named_engine_fails(bundled, monkeypatch, caplog):
    """When ONNX Runtime cannot run the model, auto says so and runs the reference engine."""
    def no_export(network, config, directory=None):
        raise RuntimeError('exporter unavailable (injected by the test)')

    monkeypatch.setattr(engines, 'cached_export', no_export)
    with caplog.at_level(logging.WARNING, logger='centertrack_ros'):
        tracker = bundled.tracker()
    assert isinstance(tracker.engine, ReferenceEngine)
    assert 'the onnxruntime engine cannot run this model (RuntimeError: exporter unavailable' \
        in caplog.text and 'using the reference engine' in caplog.text
    with pytest.raises(EngineError, match='exporter unavailable'):
        bundled.tracker(engine='onnxruntime')


def test_auto_is_onnxruntime_on_the_cpu(bundled):
    assert engines.resolve_engine('auto', torch.device('cpu')) == 'onnxruntime'
    assert engines.resolve_engine('auto', torch.device('cuda')) == 'torch'
    assert engines.resolve_engine('auto', torch.device('cuda'), onnx_file=True) == 'onnxruntime'
    assert bundled.tracker().engine.describe() == 'onnxruntime (CPU)'
