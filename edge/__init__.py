"""edge-vitals: heart rate from a face on camera, offline and in real time on small devices.

>>> import edge
>>> track = edge.process_video("face.avi")                     # doctest: +SKIP
>>> with edge.Pipeline() as pipe:                               # doctest: +SKIP
...     reading = pipe.push(frame_rgb, timestamp_s)

Not a medical device. Importing this package loads numpy and the kernels (compiled ahead
of time by ``edge-vitals warmup``, else numba); OpenCV and optional backends load when
first used.
"""

from edge.config import PipelineConfig, RoiConfig, RppgConfig
from edge.errors import BackendError, CaptureError, ConfigError, InputError, VitalsError
from edge.pipeline import Pipeline
from edge.pulse import PulseAnalysis, analyze_pulse
from edge.types import Box, Reading, Status, Track
from edge.video import process_video

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic)

__all__ = [
    "BackendError",
    "Box",
    "CaptureError",
    "ConfigError",
    "InputError",
    "Pipeline",
    "PipelineConfig",
    "PulseAnalysis",
    "Reading",
    "RoiConfig",
    "RppgConfig",
    "Status",
    "Track",
    "VitalsError",
    "__version__",
    "analyze_pulse",
    "process_video",
]
