"""The bundled model exported to ONNX tracks without torch as the torch path tracks it.

``centertrack_export`` writes the bundled checkpoint as ``.onnx``; a fresh interpreter in which
torch cannot be imported (``benchmarks/no_torch`` first on ``PYTHONPATH``) loads that file with
the onnxruntime engine and tracks a synthetic drive; this process tracks the same frames from
the checkpoint with the reference engine. The two share everything after the network, so the
tracks agree closely: positions and scores within the pipeline tolerance of the reference
README, ids exactly -- which the margins of the sequence's decisions allow (checked first).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import onnx
import pytest
from support import margins
from support import reference_data as ref
from support.no_torch import run_python
from support.tiny_onnx import replace_metadata

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_model
from centertrack_ros.core.onnx_file import inspect_onnx
from centertrack_ros.core.onnx_model import export_versions
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools import export

pytestmark = pytest.mark.equality

SCENE = SceneConfig(seed=2, num_frames=12)
# onnxruntime against PyTorch on the bundled model: scores 5e-5 apart (test_onnxruntime); the
# decisions of SCENE must clear ten times this.
ORT_NOISE = margins.NoiseBound(score=2e-4, relative=1e-3, pixels=0.02)


@pytest.fixture(scope='module')
def exported(tmp_path_factory) -> tuple[Path, str]:
    """Export the bundled model with centertrack_export; return the file and what it printed."""
    path = tmp_path_factory.mktemp('no_torch') / 'bundled.onnx'
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert export.main(['--output', str(path), '--no-check']) == 0
    return path, printed.getvalue()


def test_the_export_describes_itself(exported):
    path, printed = exported
    assert ('(onnx opset 19, input 320x192, dynamic batch 1..64, heads hm, reg, wh, tracking, '
            in printed)
    assert printed.rstrip().endswith('metadata batch, format, input, model, tracker, versions)')
    info = inspect_onnx(path)
    stored = info.metadata()
    assert stored['versions'] == export_versions() and stored['format'] == 2
    bundled = load_model(ModelSpec(), RuntimeConfig(device='cpu')).config
    assert stored['model']['class_names'] == list(bundled.model.class_names)
    assert stored['tracker']['max_age'] == bundled.tracker.max_age
    graph = onnx.load(str(path))  # the header reader agrees with a full parse of the export
    assert [v.name for v in info.inputs] == [v.name for v in graph.graph.input]
    assert [v.name for v in info.outputs] == [v.name for v in graph.graph.output]
    assert dict(info.metadata_props) == {p.key: p.value for p in graph.metadata_props}


def test_an_old_export_still_loads(exported, tmp_path):
    """Exports before the versions were recorded (metadata format 1) load as they did."""
    path, _ = exported
    old = replace_metadata(path, tmp_path / 'old.onnx', {
        key: value for key, value in inspect_onnx(path).metadata().items()
        if key in ('model', 'input', 'tracker')})
    model = load_model(ModelSpec(path=str(old)), RuntimeConfig(device='cpu'))
    new = load_model(ModelSpec(path=str(path)), RuntimeConfig(device='cpu'))
    assert model.config == new.config and 'versions' not in model.metadata


def test_the_export_tracks_without_torch_as_the_checkpoint_does(exported):
    path, _ = exported
    out = run_python(f"""
        import json, sys
        from centertrack_ros.core.config import RuntimeConfig
        from centertrack_ros.core.model_spec import ModelSpec, load_model
        from centertrack_ros.synthetic import SceneConfig, generate_sequence
        model = load_model(ModelSpec(path={str(path)!r}),
                           RuntimeConfig(device='cpu', engine='onnxruntime'))
        tracker = model.tracker()
        sequence = generate_sequence(SceneConfig(seed={SCENE.seed},
                                                 num_frames={SCENE.num_frames}))
        tracks = [[t.to_dict() for t in tracker.step(sequence.image(i))]
                  for i in range(len(sequence))]
        print(json.dumps({{'engine': tracker.engine.describe(), 'tracks': tracks,
                          'config': model.config.describe(),
                          'torch': sorted(m for m in sys.modules if m.startswith('torch'))}}))
        """)
    result = json.loads(out.strip().split('\n')[-1])
    for frame, tracks in enumerate(result['tracks']):  # print what the test compares
        print(f'frame {frame}:', [(t['tracking_id'], t['class'], round(t['score'], 3),
                                   [round(v, 1) for v in t['bbox']]) for t in tracks])
    assert result['torch'] == [] and result['engine'] == 'onnxruntime (CPU)'
    checkpoint = load_model(ModelSpec(), RuntimeConfig(device='cpu'))
    assert result['config'] == json.loads(json.dumps(checkpoint.config.describe()))
    sequence = generate_sequence(SCENE)
    frames = [sequence.image(i) for i in range(len(sequence))]
    reference = checkpoint.tracker(engine='reference')
    measured = margins.measure(reference, frames)
    print(f'margins of the reference run: {measured}')
    margins.assert_conditioned(measured, ORT_NOISE)
    reference.reset()
    expected = [ref.as_dicts(reference.step(frame)) for frame in frames]
    assert sum(map(len, expected)) > len(frames), 'objects are tracked (not an empty run)'
    ref.assert_same_results(zip(result['tracks'], expected), ref.PIPELINE,
                            'exported file, no torch, vs checkpoint, reference engine')
