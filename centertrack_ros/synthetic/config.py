"""What a synthetic sequence is asked to show: its configuration and its object classes.

Everything else in the package derives from a :class:`SceneConfig`: its ``seed`` feeds the one
random generator that lays out the road, plans the traffic and draws the look of every object.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASS_NAMES = ('car', 'pedestrian')
"""Class names; the class id of ``CLASS_NAMES[k]`` is ``k + 1``."""
CAR = 1
PEDESTRIAN = 2

MIN_OBJECT_PIXELS = 3.0
"""Objects whose box is lower than this many pixels are neither drawn nor listed."""


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of one synthetic sequence; all randomness derives from ``seed``.

    Speeds are in metres per second, rates in new objects per second (a Poisson process), pixel
    amplitudes in pixels of the output image. Ranges are ``(low, high)`` and each sequence draws
    its own value (for example its ego speed) from them.
    """

    width: int = 640
    height: int = 384
    num_frames: int = 200
    fps: float = 10.0
    seed: int = 0
    max_objects: int = 16
    car_rate: float = 0.7
    pedestrian_rate: float = 0.8
    initial_objects: tuple[int, int] = (4, 10)
    car_speed: tuple[float, float] = (3.0, 14.0)
    pedestrian_speed: tuple[float, float] = (0.7, 2.0)
    ego_speed: tuple[float, float] = (0.0, 9.0)
    shake: float = 1.5
    lighting_variation: float = 0.2
    shadows: bool = True
    noise: float = 3.0
    min_visibility: float = 0.25
    min_size: float = 6.0

    def __post_init__(self) -> None:
        """Reject values outside their valid ranges with a ValueError naming the field."""
        for name in ('initial_objects', 'car_speed', 'pedestrian_speed', 'ego_speed'):
            # Lists from YAML or the command line would make the frozen config unhashable.
            object.__setattr__(self, name, tuple(getattr(self, name)))

        def positive_range(name: str, value: tuple[float, float]) -> None:
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise ValueError(f'SceneConfig.{name} must be (low, high) with 0 <= low <= high, '
                                 f'got {value!r}')

        if self.width < 32 or self.height < 32:
            raise ValueError(f'SceneConfig image size must be at least 32x32, got '
                             f'{self.width}x{self.height}')
        if self.num_frames < 1:
            raise ValueError(f'SceneConfig.num_frames must be >= 1, got {self.num_frames}')
        if not self.fps > 0:
            raise ValueError(f'SceneConfig.fps must be > 0, got {self.fps}')
        if self.max_objects < 0:
            raise ValueError(f'SceneConfig.max_objects must be >= 0, got {self.max_objects}')
        for name in ('car_rate', 'pedestrian_rate', 'shake', 'lighting_variation', 'noise',
                     'min_size'):
            if getattr(self, name) < 0:
                raise ValueError(f'SceneConfig.{name} must be >= 0, got {getattr(self, name)}')
        if self.lighting_variation > 0.8:
            raise ValueError('SceneConfig.lighting_variation must be <= 0.8, got '
                             f'{self.lighting_variation}')
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f'SceneConfig.min_visibility must be in [0, 1], got '
                             f'{self.min_visibility}')
        if len(self.initial_objects) != 2 or not 0 <= self.initial_objects[0] <= \
                self.initial_objects[1]:
            raise ValueError('SceneConfig.initial_objects must be (low, high) with '
                             f'0 <= low <= high, got {self.initial_objects!r}')
        positive_range('car_speed', self.car_speed)
        positive_range('pedestrian_speed', self.pedestrian_speed)
        positive_range('ego_speed', self.ego_speed)

