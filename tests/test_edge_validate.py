import numpy as np
import pytest

from edge.errors import InputError, VitalsError
from edge.validate import valid_frame, valid_fs, valid_signal, valid_timestamp


def test_valid_frame_accepts_rgb_uint8_and_makes_it_contiguous(rng):
    frame = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)[:, ::-1]
    assert not frame.flags.c_contiguous
    out = valid_frame(frame)
    assert out.flags.c_contiguous and out.dtype == np.uint8
    np.testing.assert_array_equal(out, frame)  # the same pixels, in the same channel order


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((20, 30, 3), dtype=np.float64), "float64"),
        (np.zeros((20, 30), dtype=np.uint8), r"\(20, 30\)"),
        (np.zeros((20, 30, 4), dtype=np.uint8), r"\(20, 30, 4\)"),
        (np.zeros((4, 30, 3), dtype=np.uint8), "H, W >= 8"),
        ([[1, 2, 3]], "list"),
        (None, "NoneType"),
    ],
)
def test_valid_frame_rejects(frame, match):
    with pytest.raises(InputError, match=match):
        valid_frame(frame)


def test_input_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        valid_frame(None)
    assert issubclass(InputError, VitalsError)


@pytest.mark.parametrize(
    ("t", "last", "match"),
    [
        (float("nan"), None, "finite"),
        (float("inf"), 1.0, "finite"),
        (1.0, 1.0, "increase strictly"),
        (0.5, 1.0, "increase strictly"),
        ("soon", None, "number of seconds"),
        (None, None, "number of seconds"),
    ],
)
def test_valid_timestamp_rejects(t, last, match):
    with pytest.raises(InputError, match=match):
        valid_timestamp(t, last)


def test_valid_timestamp_accepts_numpy_scalars():
    assert valid_timestamp(np.float32(2.5), 1.0) == 2.5


@pytest.mark.parametrize("fs", [0, -1, float("nan"), "x", None])
def test_valid_fs_rejects(fs):
    with pytest.raises(InputError, match="fs"):
        valid_fs(fs)


@pytest.mark.parametrize(
    ("signal", "match"),
    [
        (np.zeros((3, 3)), "1-D"),
        ([1.0], "at least 2"),
        ([1.0, np.nan, 2.0], "1 NaN or inf"),
        (["a", "b"], "numbers"),
    ],
)
def test_valid_signal_rejects(signal, match):
    with pytest.raises(InputError, match=match):
        valid_signal(signal)
