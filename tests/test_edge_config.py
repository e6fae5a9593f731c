import pytest

from edge.config import PipelineConfig, RoiConfig, RppgConfig
from edge.errors import ConfigError


def test_defaults_are_valid_and_round_trip_through_a_dict():
    config = PipelineConfig()
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_toml_file(tmp_path):
    path = tmp_path / "device.toml"
    path.write_text('[roi]\nmode = "full"\n[rppg]\nmethod = "chrom"\nband_bpm = [45, 180]\n')
    config = PipelineConfig.from_toml(path)
    assert config.roi.mode == "full" and config.rppg.method == "chrom"
    assert config.rppg.band_bpm == (45.0, 180.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[rppg]\nmethdo = "pos"\n', "key 'rppg.methdo'; did you mean 'rppg.method'"),
        ('[rpgg]\nmethod = "pos"\n', "did you mean 'rppg'"),
        ('[rppg]\nmethod = "ica"\n', "rppg.method must be one of"),
        ("[rppg]\nhr_window_s = 1.0\n", r"rppg.hr_window_s must be a number in \[4.0, 120.0\]"),
        ("[roi\n", "not valid TOML"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        PipelineConfig.from_toml(path)


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read"):
        PipelineConfig.from_toml("/nonexistent/x.toml")


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "eyes"}, {"mode": "fixed"}, {"mode": "fixed", "fixed_box": (0, 0, 0, 10)},
     {"detect_every_n_frames": 0}, {"box_smoothing": 2.0}],
)
def test_roi_config_checks(kwargs):
    with pytest.raises(ConfigError, match=r"roi\."):
        RoiConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"band_bpm": (120.0, 60.0)}, {"band_bpm": (40.0, 500.0)}, {"min_window_s": 20.0},
     {"sample_rate_hz": True}, {"output_interval_s": 0.0}],
)
def test_rppg_config_checks(kwargs):
    with pytest.raises(ConfigError, match=r"rppg\."):
        RppgConfig(**kwargs)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        PipelineConfig().roi.mode = "full"


def test_with_changes():
    config = PipelineConfig().with_changes(roi={"mode": "full"}, rppg={"method": "chrom"})
    assert (config.roi.mode, config.rppg.method) == ("full", "chrom")
    assert config.kalman == PipelineConfig().kalman


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"rppg": {"methd": "chrom"}}, "key 'rppg.methd'; did you mean 'rppg.method'"),
        ({"rpgg": {"method": "chrom"}}, "unknown config key 'rpgg'; did you mean 'rppg'"),
        ({"roi": {"mode": "eyes"}}, "roi.mode must be one of"),
        ({"roi": "full"}, "roi must be a dict of changes or a RoiConfig"),
    ],
)
def test_with_changes_rejects_unknown_names_with_a_suggestion(sections, match):
    with pytest.raises(ConfigError, match=match):
        PipelineConfig().with_changes(**sections)
