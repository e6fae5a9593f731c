"""Device profiles (firmware_sim.profiles) and ``calibrate device`` (firmware_sim.calibrate)."""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
from importlib import resources

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.pipeline import STAGES
from firmware_sim import calibrate
from firmware_sim.profiles import (
    SHIPPED_PROFILES,
    STAGE_CLASS_NAMES,
    STAGE_CLASSES,
    DeviceProfile,
    load_profile,
)

SLOW_TO_FAST = ("zero2w", "pi3bplus", "pi4", "pi5")


# -- shipped profiles -----------------------------------------------------------------
def test_shipped_files_are_exactly_the_shipped_names():
    folder = resources.files("firmware_sim").joinpath("profiles")
    stems = {p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")}
    assert stems == set(SHIPPED_PROFILES)


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_shipped_profile_loads_and_is_consistent(name):
    profile = load_profile(name)
    assert profile.name == name
    for cls in STAGE_CLASS_NAMES:
        assert profile.factor(cls) > 0
        assert getattr(profile.factors_source, cls), f"{name}: no source for {cls}"
    assert profile.frame_deadline_ms == pytest.approx(1000.0 / profile.camera.fps)
    assert profile.p99_frame_ms == pytest.approx(profile.frame_deadline_ms)
    assert profile.budget.max_drop_fraction == 0.01
    assert profile.budget.max_deadline_miss_fraction == 0.01
    assert profile.budget.max_rss_mb <= profile.memory_mb


def test_camera_defaults():
    for name in SLOW_TO_FAST:
        camera = load_profile(name).camera
        assert (camera.queue, camera.buffer_count) == ("latest", 4)
        assert camera.fps == (15.0 if name in ("zero2w", "pi3bplus") else 30.0)
    host = load_profile("host")
    assert host.camera.fps == 30.0
    assert all(host.factor(c) == 1.0 for c in STAGE_CLASS_NAMES)
    assert host.thermal.throttled_clock_ghz is None
    assert load_profile("zero2w").budget.max_rss_mb == 200.0


@pytest.mark.parametrize("stage_class", STAGE_CLASS_NAMES)
def test_boards_ordered_by_speed_for_every_class(stage_class):
    factors = [load_profile(n).factor(stage_class) for n in SLOW_TO_FAST]
    assert factors == sorted(factors, reverse=True)
    assert len(set(factors)) == len(factors)
    assert factors[-1] > 1.0  # even a Pi 5 is slower than the host


def test_every_pipeline_stage_has_a_class():
    assert set(STAGES) | {"decode"} == set(STAGE_CLASSES)
    assert set(STAGE_CLASSES.values()) <= set(STAGE_CLASS_NAMES)
    profile = load_profile("pi4")
    assert profile.factor("track") == profile.factor("frame")
    assert profile.factor("estimate") == profile.factor("python")


def test_fps_override_moves_the_default_deadline():
    profile = load_profile("pi4").with_fps(15)
    assert profile.frame_deadline_ms == pytest.approx(1000 / 15)
    fixed = dataclasses.replace(profile, budget=dataclasses.replace(
        profile.budget, frame_deadline_ms=50.0))
    assert fixed.with_fps(30).frame_deadline_ms == 50.0


# -- files and errors -----------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_toml_round_trip(name, tmp_path):
    profile = load_profile(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(profile.to_toml())
    assert DeviceProfile.from_toml(path) == profile
    assert load_profile(path) == profile
    assert DeviceProfile.from_dict(profile.to_dict()) == profile


def test_round_trip_keeps_optional_values_and_odd_strings(tmp_path):
    base = load_profile("pi4")
    profile = dataclasses.replace(
        base, description='quote " backslash \\ tab\t and ünïcode',
        budget=dataclasses.replace(base.budget, frame_deadline_ms=40.0, p99_frame_ms=30.0))
    path = tmp_path / "odd.toml"
    path.write_text(profile.to_toml())
    assert DeviceProfile.from_toml(path) == profile


def _pi4_dict():
    return tomllib.loads(load_profile("pi4").to_toml())


def test_unknown_key_is_rejected_with_a_suggestion():
    data = _pi4_dict()
    data["camera"]["buffer_cuont"] = 2
    hint = r"camera\.buffer_cuont.*did you mean 'camera\.buffer_count'"
    with pytest.raises(ConfigError, match=hint):
        DeviceProfile.from_dict(data)
    data = _pi4_dict()
    data["factor"] = {}
    with pytest.raises(ConfigError, match="did you mean 'factors'"):
        DeviceProfile.from_dict(data)


@pytest.mark.parametrize(("section", "key", "value", "match"), [
    ("factors", "numba", 0.0, r"factors\.numba"),
    ("factors", "frame", "fast", r"factors\.frame"),
    ("camera", "fps", 0, r"camera\.fps"),
    ("camera", "queue", "lastest", r"camera\.queue.*did you mean 'latest'"),
    ("camera", "buffer_count", 2.5, r"camera\.buffer_count"),
    ("jitter", "sigma", -0.1, r"jitter\.sigma"),
    ("jitter", "os_noise_ms", [10.0, 2.0], r"jitter\.os_noise_ms"),
    ("jitter", "os_noise_probability", 1.5, r"jitter\.os_noise_probability"),
    ("thermal", "throttled_clock_ghz", 2.0, r"throttled_clock_ghz must be <= clock_ghz"),
    ("budget", "max_drop_fraction", 2.0, r"budget\.max_drop_fraction"),
    ("budget", "frame_deadline_ms", -1.0, r"budget\.frame_deadline_ms"),
    (None, "cores", 0, r"cores"),
    (None, "clock_ghz", True, r"clock_ghz"),
])
def test_bad_values_name_the_field(section, key, value, match):
    data = _pi4_dict()
    (data if section is None else data[section])[key] = value
    with pytest.raises(ConfigError, match=match):
        DeviceProfile.from_dict(data)


def test_missing_factor_is_an_error():
    data = _pi4_dict()
    del data["factors"]["cnn"]
    with pytest.raises(ConfigError, match="lacks cnn"):
        DeviceProfile.from_dict(data)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(bad)


def test_unknown_shipped_name_suggests():
    with pytest.raises(ConfigError, match=r"shipped profiles are .*pi4.*did you mean 'pi4'"):
        load_profile("pi44")
    with pytest.raises(ConfigError, match="unknown stage"):
        load_profile("pi4").factor("trakc")


@pytest.mark.parametrize(("typed", "meant"), [("pi3", "pi3bplus"), ("zero", "zero2w"),
                                              ("p4", "pi4"), ("Pi5", "pi5")])
def test_device_name_suggestions_prefer_names_that_start_alike(typed, meant):
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        load_profile(typed)


# -- the service-time model -----------------------------------------------------------
def _draw(profile, seed, n=200, elapsed_s=0.0, stage="track"):
    rng = np.random.default_rng(seed)
    return np.array([profile.device_time_s(0.002, stage, rng, elapsed_s) for _ in range(n)])


def test_device_time_is_deterministic_for_a_seed():
    profile = load_profile("zero2w")
    np.testing.assert_array_equal(_draw(profile, 7), _draw(profile, 7))
    assert not np.array_equal(_draw(profile, 7), _draw(profile, 8))


def test_device_time_scales_by_the_factor_with_jitter_and_noise():
    profile = load_profile("zero2w")
    times = _draw(profile, 1, n=4000, stage="numba")
    ratio = np.median(times) / 0.002
    assert ratio == pytest.approx(profile.factor("numba"), rel=0.03)
    assert np.std(np.log(times)) == pytest.approx(profile.jitter.sigma, rel=0.25)
    quiet = dataclasses.replace(profile, jitter=dataclasses.replace(
        profile.jitter, os_noise_probability=0.0, sigma=0.0))
    np.testing.assert_allclose(_draw(quiet, 1, stage="numba"), 0.002 * profile.factor("numba"))


def test_os_noise_rate_and_range():
    profile = load_profile("pi4")
    rng = np.random.default_rng(3)
    noise = np.array([profile.os_noise_s(rng) for _ in range(20_000)])
    hits = noise[noise > 0]
    assert hits.size / noise.size == pytest.approx(profile.jitter.os_noise_probability, abs=0.004)
    low, high = profile.jitter.os_noise_ms
    assert low / 1000 <= hits.min() and hits.max() <= high / 1000


def test_os_noise_comes_once_a_service_whatever_its_stage_count():
    profile = load_profile("zero2w")
    quiet = dataclasses.replace(profile, jitter=dataclasses.replace(profile.jitter, sigma=0.0))
    rng = np.random.default_rng(5)
    host = np.full(6, 0.0005)  # six stages of 0.5 ms
    extra = np.array([quiet.service_times_s(host, ["numba"] * 6, rng).sum()
                      - 6 * 0.0005 * quiet.factor("numba") for _ in range(20_000)])
    hit = extra > 1e-9
    # once a service: 2 %, not the 1 - 0.98**6 = 11.4 % of one chance per stage
    assert hit.mean() == pytest.approx(quiet.jitter.os_noise_probability, abs=0.004)
    low, high = quiet.jitter.os_noise_ms
    assert low / 1000 - 1e-9 <= extra[hit].min() and extra[hit].max() <= high / 1000 + 1e-9


def test_os_noise_lands_in_a_stage_in_proportion_to_its_time():
    profile = load_profile("zero2w")
    quiet = dataclasses.replace(profile, jitter=dataclasses.replace(
        profile.jitter, sigma=0.0, os_noise_probability=1.0))
    rng = np.random.default_rng(9)
    host = np.array([0.001, 0.0, 0.003])  # a stage that did no work gets no delay
    base = host * quiet.factor("numba")
    landed = np.array([np.argmax(quiet.service_times_s(host, ["numba"] * 3, rng) - base)
                       for _ in range(4000)])
    assert not np.any(landed == 1)
    assert np.mean(landed == 2) == pytest.approx(0.75, abs=0.03)


def test_host_profile_is_about_identity():
    times = _draw(load_profile("host"), 5, n=500)
    np.testing.assert_allclose(times, 0.002, rtol=0.06)


def test_thermal_multiplier_applies_only_after_throttle_time():
    profile = load_profile("pi4")
    after = profile.thermal.throttle_after_s
    assert profile.thermal_multiplier(after - 1.0) == 1.0
    assert profile.thermal_multiplier(after) == pytest.approx(1.5 / 1.0)
    cool = _draw(profile, 11, elapsed_s=after - 1.0)
    hot = _draw(profile, 11, elapsed_s=after + 1.0)
    # same draws: only the service part (not the additive OS noise) is scaled
    rng = np.random.default_rng(11)
    noise = np.array([(rng.standard_normal(), profile.os_noise_s(rng), rng.random())[1]
                      for _ in range(200)])
    np.testing.assert_allclose(hot - noise, 1.5 * (cool - noise))
    assert load_profile("pi5").thermal_multiplier(1e5) == 1.0


# -- calibrate device -----------------------------------------------------------------
def test_calibrate_writes_measured_over_reference(tmp_path, monkeypatch):
    reference = calibrate.load_host_reference()["median_s"]
    fake = {cls: 10.0 * (i + 2) * reference[cls] for i, cls in enumerate(reference)}
    monkeypatch.setattr(calibrate, "run_microbenchmarks", lambda **_: dict(fake))
    out = tmp_path / "board.toml"
    profile = calibrate.calibrate_device(name="board", base_profile="pi4", out_path=out,
                                         repeats=3)
    loaded = load_profile(out)
    assert loaded == profile and loaded.name == "board"
    prior = load_profile("pi4")
    for cls in STAGE_CLASS_NAMES:
        if cls in fake:
            assert loaded.factor(cls) == pytest.approx(fake[cls] / reference[cls], rel=1e-3)
            assert "edge-vitals calibrate device" in getattr(loaded.factors_source, cls)
        else:
            assert loaded.factor(cls) == prior.factor(cls)
            assert getattr(loaded.factors_source, cls) == getattr(prior.factors_source, cls)
    assert loaded.camera == prior.camera and loaded.budget == prior.budget


def test_calibrate_without_base_sets_cnn_from_numba(tmp_path, monkeypatch):
    reference = calibrate.load_host_reference()["median_s"]
    monkeypatch.setattr(calibrate, "run_microbenchmarks",
                        lambda **_: {c: 4.0 * v for c, v in reference.items()})
    profile = calibrate.calibrate_device(name="here", base_profile=None, out_path=None)
    assert profile.factor("cnn") == profile.factor("numba") == pytest.approx(4.0)


def test_calibrate_cli(tmp_path, monkeypatch, capsys):
    reference = calibrate.load_host_reference()["median_s"]
    monkeypatch.setattr(calibrate, "run_microbenchmarks",
                        lambda **_: {c: 2.0 * v for c, v in reference.items()})
    from edge.cli import calibrate as cli_calibrate

    parser = argparse.ArgumentParser()
    cli_calibrate.add_arguments(parser)
    out = tmp_path / "p.toml"
    args = parser.parse_args(["device", "--base", "pi5", "--out", str(out), "--repeats", "2"])
    assert cli_calibrate.main(args) == 0
    text = capsys.readouterr().out
    assert "not measured" in text and str(out) in text and "--device" in text
    assert load_profile(out).name == "pi5-measured"
    with pytest.raises(SystemExit):
        parser.parse_args(["spo2"])  # needs recordings and --out
    with pytest.raises(SystemExit):
        parser.parse_args(["oximeter"])


def test_real_microbenchmarks_run():
    medians = calibrate.run_microbenchmarks(repeats=2, warmup=1)
    assert set(medians) == set(calibrate.MEASURED_CLASSES) == {"decode", "frame", "numba",
                                                               "python"}
    assert all(v > 0 and np.isfinite(v) for v in medians.values())


def test_reference_covers_the_measured_classes():
    reference = calibrate.load_host_reference()
    assert set(reference["median_s"]) == set(calibrate.MEASURED_CLASSES)
    assert all(v > 0 for v in reference["median_s"].values())
    assert {"cpu", "date", "numpy", "numba", "opencv"} <= set(reference)
