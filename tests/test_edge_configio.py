"""The config-IO helpers (edge.configio) on small dataclasses of the test's own."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field

import numpy as np
import pytest

from edge import configio
from edge.errors import ConfigError, VitalsError


@dataclass(frozen=True, kw_only=True, slots=True)
class Lens:
    focal_mm: float = 4.0
    coating: str | None = None

    def __post_init__(self) -> None:
        configio.check("camera.lens.focal_mm", self.focal_mm, 1.0, 50.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Camera:
    fps: float = 30.0
    band_hz: tuple[float, float] = (0.5, 3.0)
    lens: Lens = field(default_factory=Lens)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rig:
    name: str = "bench"
    threads: int = 2
    enabled: bool = True
    limit_s: float | None = 2.5
    camera: Camera = field(default_factory=Camera)


# -- suggestions ------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "meant"), [
    ("pi3", "pi3bplus"),   # a name that starts with what was typed wins over a closer one
    ("zero", "zero2w"),
    ("p4", "pi4"),         # no name starts with it: difflib
    ("PI5", "pi5"),        # case is ignored
    ("hots", "host"),
    ("banana", None),
])
def test_closest(typed, meant):
    assert configio.closest(typed, ("zero2w", "pi3bplus", "pi4", "pi5", "host")) == meant


def test_did_you_mean():
    assert configio.did_you_mean("methd", ["method", "model_path"]) == "; did you mean 'method'?"
    assert configio.did_you_mean("methd", ["method"], prefix="rppg.") == (
        "; did you mean 'rppg.method'?")
    assert configio.did_you_mean("zzz", ["method"]) == ""


# -- checks -----------------------------------------------------------------------------
def test_check_accepts_numbers_in_range():
    configio.check("x", 1, 1, 2)
    configio.check("x", 2.0, 1, 2)
    configio.check("x", np.float32(1.5), 1, 2)
    configio.check("n", np.int64(3), 1, 5, integer=True)
    configio.check("gate", math.inf, 0.0, math.inf, open_low=True)


@pytest.mark.parametrize(("value", "kwargs", "match"), [
    (0.5, {}, r"^x must be a number in \[1, 2\]; got 0\.5$"),
    (3, {}, r"got 3$"),
    (math.nan, {}, "got nan"),
    (True, {}, "got True"),
    ("1.5", {}, "got '1.5'"),
    (None, {}, "got None"),
    (1.5, {"integer": True}, r"^x must be an integer in \[1, 2\]; got 1\.5$"),
    (1, {"open_low": True}, r"^x must be a number in \(1, 2\]; got 1$"),
])
def test_check_says_field_range_and_value(value, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        configio.check("x", value, 1, 2, **kwargs)


def test_check_bool():
    configio.check_bool("on", False)
    for value in (0, "no", None):
        with pytest.raises(ConfigError, match=f"on must be true or false; got {value!r}"):
            configio.check_bool("on", value)


def test_numbers():
    assert configio.numbers("band", [1, 2.5], 2) == (1.0, 2.5)
    assert configio.numbers("rgb", np.array([1, 2, 3]), 3, 0, 255) == (1.0, 2.0, 3.0)
    assert all(type(v) is float for v in configio.numbers("band", (1, np.int32(2)), 2))


@pytest.mark.parametrize(("value", "match"), [
    ([1.0], r"^band must be 2 numbers; got \[1\.0\]$"),
    ("ab", "got 'ab'"),
    (3.0, "got 3.0"),
    ([1.0, math.inf], "got"),
    ([1.0, True], "got"),
    ([1.0, "2"], "got"),
    ({"a": 1, "b": 2}, "got"),
])
def test_numbers_rejects(value, match):
    with pytest.raises(ConfigError, match=match):
        configio.numbers("band", value, 2)


def test_numbers_out_of_bounds():
    with pytest.raises(ConfigError, match=r"band must be 2 numbers in \[0, 10\]; got \[1, 11\]"):
        configio.numbers("band", [1, 11], 2, 0, 10)


def test_choice_suggests_the_closest():
    configio.choice("rppg.method", "chrom", ("pos", "chrom"))
    with pytest.raises(ConfigError, match=(r"^rppg\.method must be one of pos, chrom; "
                                           r"got 'crhom'; did you mean 'chrom'\?$")):
        configio.choice("rppg.method", "crhom", ("pos", "chrom"))
    with pytest.raises(ConfigError, match=r"got \['pos'\]; did you mean 'pos'\?$"):
        configio.choice("rppg.method", ["pos"], ("pos", "chrom"))


# -- dicts ------------------------------------------------------------------------------
def test_from_dict_builds_nested_dataclasses():
    rig = configio.from_dict(Rig, {"threads": 4, "camera": {"band_hz": [1, 2],
                                                            "lens": {"focal_mm": 8}}})
    assert rig == Rig(threads=4, camera=Camera(band_hz=(1, 2), lens=Lens(focal_mm=8)))
    assert isinstance(rig.camera.band_hz, tuple)
    assert configio.from_dict(Rig, {}) == Rig()


@pytest.mark.parametrize(("data", "match"), [
    ({"camera": {"lens": {"focal_nm": 8}}},
     r"^unknown rig key 'camera\.lens\.focal_nm'; did you mean 'camera\.lens\.focal_mm'\?$"),
    ({"camra": {}}, r"^unknown rig key 'camra'; did you mean 'camera'\?$"),
    ({"camera": 3}, r"^camera must be a table; got int$"),
    ([1], r"^rig must be a table; got list$"),
    ({1: 2}, "rig keys must be strings; got 1"),
    ({"camera": {"lens": {"focal_mm": 0.1}}}, r"camera\.lens\.focal_mm must be a number"),
])
def test_from_dict_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        configio.from_dict(Rig, data, what="rig")


def test_with_changes():
    rig = configio.with_changes(Rig(), {"threads": 1, "camera": {"lens": {"focal_mm": 6.0}}})
    assert rig == Rig(threads=1, camera=Camera(lens=Lens(focal_mm=6.0)))
    assert configio.with_changes(rig, {"camera": Camera()}).camera == Camera()
    with pytest.raises(ConfigError, match=r"unknown config key 'camera\.fsp'; did you mean "
                                          r"'camera\.fps'\?"):
        configio.with_changes(Rig(), {"camera": {"fsp": 15.0}})
    with pytest.raises(ConfigError, match="camera must be a dict of changes or a Camera; got 3"):
        configio.with_changes(Rig(), {"camera": 3})
    with pytest.raises(ConfigError, match="focal_mm"):
        configio.with_changes(Rig(), {"camera": {"lens": {"focal_mm": 99.0}}})


def test_to_dict():
    assert configio.to_dict(Lens()) == {"focal_mm": 4.0, "coating": None}
    assert configio.to_dict(Lens(), skip_none=True) == {"focal_mm": 4.0}
    assert configio.to_dict(Rig())["camera"]["lens"] == {"focal_mm": 4.0, "coating": None}


# -- TOML -------------------------------------------------------------------------------
def test_to_toml_writes_tables_after_values():
    rig = Rig(name='say "hi"', threads=3, enabled=False, limit_s=math.inf,
              camera=Camera(fps=15, lens=Lens(coating="anti\tglare")))
    expected = """name = "say \\"hi\\""
threads = 3
enabled = false
limit_s = inf

[camera]
fps = 15
band_hz = [0.5, 3.0]

[camera.lens]
focal_mm = 4.0
coating = "anti\\tglare"
"""
    assert configio.to_toml(rig) == expected


@pytest.mark.parametrize("rig", [
    Rig(),
    Rig(name="ünïcode \\ back\x7fslash\n", threads=0, limit_s=1e-7,
        camera=Camera(band_hz=(np.float64(0.7), 3), lens=Lens(focal_mm=50, coating="x"))),
])
def test_nested_round_trip_through_toml(rig):
    text = configio.to_toml(rig)
    assert configio.from_dict(Rig, tomllib.loads(text)) == rig


def test_to_toml_refuses_what_it_cannot_read_back():
    with pytest.raises(ConfigError, match="limit_s = None"):
        configio.to_toml(Rig(limit_s=None))
    with pytest.raises(ConfigError, match=r"camera\.band_hz = \{\} \(dict\)"):
        configio.to_toml(Rig(camera=Camera(band_hz=(1, {}))))


def test_read_toml(tmp_path):
    good = tmp_path / "rig.toml"
    good.write_text('name = "a"\n[camera]\nfps = 10\n', encoding="utf-8")
    assert configio.read_toml(good) == {"name": "a", "camera": {"fps": 10}}
    with pytest.raises(ConfigError, match=r"cannot read rig file .*missing\.toml"):
        configio.read_toml(tmp_path / "missing.toml", what="rig file")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config file .*bad\.toml is not valid TOML"):
        configio.read_toml(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        configio.read_toml(binary)


def test_errors_are_vitals_errors_and_value_errors():
    with pytest.raises(ConfigError) as info:
        configio.check("x", -1, 0, 1)
    assert isinstance(info.value, VitalsError) and isinstance(info.value, ValueError)
