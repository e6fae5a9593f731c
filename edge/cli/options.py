"""Command-line options that several commands share, public for registered commands."""

from __future__ import annotations

import argparse

from edge.config import PipelineConfig

__all__ = ["config_from_args"]


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline config of a command's ``--config`` file and its override flags
    (``--method``, ``--model``, ``--roi``, ``--spo2-calibration``, where it has them).
    """
    path = getattr(args, "config", None)
    config = PipelineConfig.from_toml(path) if path else PipelineConfig()
    overrides = {("rppg", "method"): "method", ("rppg", "model_path"): "model",
                 ("roi", "mode"): "roi", ("vitals", "spo2_calibration"): "spo2_calibration"}
    for (section, key), flag in overrides.items():
        value = getattr(args, flag, None)
        if value:
            config = config.with_changes(**{section: {key: value}})
    return config
