"""Fixtures shared by the runtime tests.

``model``  the random-weight model of :mod:`support.runtime_inputs`, loaded for torch on the
CPU once per test module; the worker and camera-schedule tests make real network calls on it.
"""

from __future__ import annotations

import pytest
from support.runtime_inputs import load_random_model

from centertrack_ros.core.model_spec import LoadedModel


@pytest.fixture(scope='module')
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """Give the module the small random-weight model on the CPU."""
    return load_random_model(tmp_path_factory.mktemp('model'))
