"""Hostile files (issue #7, item 4): configs, models and calibrations are parsed safely.

Unknown config keys with a suggestion are in `test_edge_config.py`; here are the files a
user (or an attacker) can hand over that are not what they claim to be, and a check that
nothing in the package loads a file with pickle.
"""

import pickle
import re
from pathlib import Path

import pytest

import edge
from edge.errors import BackendError, ConfigError, InputError, VitalsError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge", "firmware_sim", "export")
class _Payload:
    """Unpickling this creates a marker file: proof that something ran pickle.load."""

    marker: Path | None = None

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def pickled(tmp_path):
    _Payload.marker = tmp_path / "pwned"
    return pickle.dumps(_Payload()), _Payload.marker


# -- config files ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"[roi.extra]\nx = 1\n", "unknown config key 'roi.extra'"),
        (b"roi = [1, 2]\n", "must be a table"),
        (b"".join(b"key%d = 1\n" % i for i in range(50_000)), "unknown config key 'key0'"),
        pytest.param("[roi]\nmode = \"full\"\n".encode("utf-16"), None, id="utf16"),
        pytest.param(b"\xff\xfe\x00garbage", None, id="binary"),
        pytest.param(b'[rppg]\nband_bpm = "fast"\n', "band_bpm", id="str"),
        pytest.param(b"[rppg]\nband_bpm = [50]\n", "band_bpm", id="short"),
        pytest.param(b'[roi]\nmode = "fixed"\nfixed_box = ["a", "b", "c", "d"]\n', "fixed_box",
                     id="box-strings"),
        pytest.param(b'[roi]\nskin_mask = "no"\n', "skin_mask", id="bool-as-string"),
    ],
)
def test_hostile_config_files(tmp_path, content, match):
    path = tmp_path / "device.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        edge.PipelineConfig.from_toml(path)


def test_pickle_disguised_as_a_config_is_not_run(tmp_path, pickled):
    data, marker = pickled
    path = tmp_path / "device.toml"
    path.write_bytes(data)
    try:
        with pytest.raises(VitalsError):
            edge.PipelineConfig.from_toml(path)
    finally:
        assert not marker.exists()


# -- model files -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.onnx", "model.tflite"])
@pytest.mark.parametrize("kind", ["pickle", "empty", "noise"])
def test_hostile_model_files(tmp_path, pickled, name, kind):
    backends = pytest.importorskip("edge.backends")
    data, marker = pickled
    path = tmp_path / name
    path.write_bytes({"pickle": data, "empty": b"", "noise": bytes(range(256)) * 64}[kind])
    with pytest.raises((BackendError, InputError)):
        backends.load_backend(path)
    assert not marker.exists()


def test_model_files_of_other_kinds_are_refused(tmp_path, pickled):
    backends = pytest.importorskip("edge.backends")
    path = tmp_path / "model.pkl"
    path.write_bytes(pickled[0])
    with pytest.raises(InputError, match="must end in"):
        backends.load_backend(path)
    with pytest.raises(InputError, match="not found"):
        backends.load_backend(tmp_path / "missing.onnx")


# -- calibration files -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pickle", "binary", "list", "unknown_key", "nan"])
def test_hostile_calibration_files(tmp_path, pickled, kind):
    spo2 = pytest.importorskip("edge.spo2")
    data, marker = pickled
    content = {"pickle": data, "binary": b"\xff\xfe\x00\x01", "list": b"[1, 2, 3]",
               "unknown_key": b'{"format": 1, "coefficients": [1, 2], "evil": true}',
               "nan": b'{"a": NaN}'}[kind]
    path = tmp_path / "spo2.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        spo2.load_calibration(path)
    assert not marker.exists()


# -- no pickle anywhere ----------------------------------------------------------------------
FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b", re.M),
     "imports a pickle-based loader"),
    (re.compile(r"allow_pickle\s*=\s*True"), "allows pickle in np.load"),
    (re.compile(r"\b(read_pickle|load_pickle)\s*\("), "reads a pickle"),
    (re.compile(r"\byaml\.load\s*\("), "uses yaml.load (use yaml.safe_load)"),
]


def _calls(text, name):
    """The text of each call ``name(...)`` (up to its closing parenthesis)."""
    for match in re.finditer(re.escape(name) + r"\s*\(", text):
        depth, i = 0, match.end() - 1
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
        yield text[match.start() : i + 1]


def test_no_pickle_in_the_package_sources():
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 20
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        problems += [f"{rel}: {why}" for pattern, why in FORBIDDEN if pattern.search(text)]
        problems += [f"{rel}: np.load without allow_pickle=False: {call}"
                     for call in _calls(text, "np.load") if "allow_pickle=False" not in call]
        problems += [f"{rel}: torch.load without weights_only=True: {call}"
                     for call in _calls(text, "torch.load") if "weights_only=True" not in call]
    assert not problems, "\n".join(problems)


def test_the_pickle_check_catches_what_it_should(tmp_path):
    bad = 'import pickle\nx = np.load(f)\ny = torch.load(p, map_location="cpu")\n'
    assert FORBIDDEN[0][0].search(bad)
    assert list(_calls(bad, "np.load")) == ["np.load(f)"]
    assert "weights_only=True" not in next(_calls(bad, "torch.load"))


def _shipped_model(name):
    path = ROOT / "edge" / "models" / name
    if not path.is_file():
        pytest.skip(f"{name} is not built in this checkout")
    return path


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (b'"inputs": {"rgb": [1, 3, 48]}', b'"inputs": {"rgb": [1, 3, 49]}', "do not match"),
        (b'"outputs": {"pulse": [1, 48]', b'"outputs": {"pulze": [1, 48]', "do not match"),
        (b'"schema": 1', b'"schema": 7', "schema"),
    ],
    ids=["input-shape", "output-name", "schema"],
)
def test_onnx_model_whose_metadata_disagrees_with_its_graph(tmp_path, old, new, match):
    # the metadata is edited in place (same length), so the protobuf stays valid
    backends = pytest.importorskip("edge.backends")
    data = _shipped_model("temporal_pulse.onnx").read_bytes()
    assert data.count(old) == 1
    path = tmp_path / "temporal_pulse.onnx"
    path.write_bytes(data.replace(old, new))
    with pytest.raises(BackendError, match=match):
        backends.load_backend(path)


def test_tflite_model_whose_metadata_disagrees_with_it(tmp_path):
    backends = pytest.importorskip("edge.backends")
    pytest.importorskip("ai_edge_litert")
    model = _shipped_model("temporal_pulse.tflite")
    meta = model.with_name(model.name + ".json").read_text()
    path = tmp_path / model.name
    path.write_bytes(backends.with_tflite_metadata(model.read_bytes(),
                                                   meta.replace("[1, 3, 48]", "[1, 3, 49]")))
    with pytest.raises(BackendError, match=r"do not match"):
        backends.load_backend(path)


def test_tflite_file_that_is_not_a_flatbuffer(tmp_path):
    backends = pytest.importorskip("edge.backends")
    pytest.importorskip("ai_edge_litert")
    path = tmp_path / "temporal_pulse.tflite"
    path.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(range(256)) * 4)
    with pytest.raises(BackendError):
        backends.load_backend(path)
