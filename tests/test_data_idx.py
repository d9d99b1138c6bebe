"""Tests of the IDX reader and writer."""

import gzip
import struct

import numpy as np
import pytest

from descentlab.data import encode_idx, read_idx, write_idx
from descentlab.errors import DataError, InvalidParameterError

IMAGES = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
LABELS = np.array([7, 2, 1], dtype=np.uint8)


def test_header_layout_matches_mnist():
    """Check the magic numbers 0x00000803 / 0x00000801 and big-endian sizes."""
    raw = encode_idx(IMAGES)
    assert raw[:4] == bytes.fromhex("00000803")
    assert struct.unpack(">3I", raw[4:16]) == (3, 28, 28)
    assert len(raw) == 16 + IMAGES.size
    lab = encode_idx(LABELS)
    assert lab == bytes.fromhex("00000801 00000003 070201")
    assert encode_idx(np.array([1], np.int32)) == bytes.fromhex(
        "00000C01 00000001 00000001"
    )


@pytest.mark.parametrize("dtype", ["u1", "i1", "<i2", ">i2", "i4", "f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_bytes(dtype, compress):
    """Check that every IDX dtype survives encode/read, raw and gzip."""
    a = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    b = read_idx(encode_idx(a, compress=compress))
    np.testing.assert_array_equal(a, b)
    assert b.dtype == a.dtype.newbyteorder("=") and b.dtype.isnative
    assert b.flags.writeable


def test_write_idx_files(tmp_path):
    """Check write_idx: gzip chosen by the .gz suffix, read back from a path."""
    gz = write_idx(tmp_path / "imgs-idx3-ubyte.gz", IMAGES)
    raw = write_idx(tmp_path / "labels-idx1-ubyte", LABELS)
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert raw.read_bytes()[:4] == bytes.fromhex("00000801")
    np.testing.assert_array_equal(read_idx(gz), IMAGES)
    np.testing.assert_array_equal(read_idx(str(raw)), LABELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [gz.name, raw.name]
    # Deterministic gzip output (mtime 0), handy for checksummed test fixtures.
    assert encode_idx(LABELS, compress=True) == encode_idx(LABELS, compress=True)


def _corrupt_gzip():
    blob = bytearray(encode_idx(IMAGES, compress=True))
    blob[-8] ^= 0xFF  # damage the CRC
    return bytes(blob)


GOOD = encode_idx(LABELS)


@pytest.mark.parametrize(
    "data, regex",
    [
        (b"", r"too short for an IDX header \(0 bytes"),
        (b"\x00\x00\x08", "too short for an IDX header"),
        (b"PK\x03\x04" + GOOD[4:], r"not an IDX file: magic number 0x504B0304"),
        (
            bytes.fromhex("01000801") + GOOD[4:],
            r"magic number 0x01000801; expected 0x0000TTDD",
        ),
        (bytes.fromhex("00000800"), "D >= 1 dimensions"),
        (
            bytes.fromhex("00000701") + GOOD[4:],
            r"unknown IDX dtype code 0x07 .*allowed codes are 0x08 ubyte",
        ),
        (
            bytes.fromhex("00000803 00000003 0000001C"),
            r"truncated IDX header: 3 dimensions need 16 bytes, the file has 12",
        ),
        (
            GOOD[:-1],
            r"truncated IDX payload: dimensions \(3,\) of uint8 need 3 bytes of data, "
            "found 2",
        ),
        (GOOD + b"\x00\x00", r"2 trailing bytes after the IDX payload"),
        (encode_idx(IMAGES, compress=True)[:-100], "truncated or corrupt gzip data"),
        (_corrupt_gzip(), "truncated or corrupt gzip data"),
        (gzip.compress(encode_idx(IMAGES)[:-5]), "truncated IDX payload"),
    ],
)
def test_corrupt_idx_is_refused(data, regex):
    """Check that each kind of damage raises DataError with a matching message."""
    with pytest.raises(DataError, match=regex):
        read_idx(data)


def test_errors_name_the_file(tmp_path):
    """Check that file errors name the path, including a missing file."""
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(GOOD[:-1])
    with pytest.raises(DataError, match="broken-idx1-ubyte: truncated IDX payload"):
        read_idx(path)
    with pytest.raises(DataError, match="cannot read IDX file .*missing"):
        read_idx(tmp_path / "missing")


@pytest.mark.parametrize(
    "array, regex",
    [
        (np.arange(3, dtype=np.int64), "must have dtype uint8, int8.* Got int64"),
        (np.array([True]), "Got bool"),
        (np.array(5, np.uint8), r"1 to 255 dimensions.* Got shape \(\)"),
    ],
)
def test_encode_idx_rejects_unsupported_arrays(array, regex):
    """Check that arrays IDX cannot store are refused with the allowed dtypes listed."""
    with pytest.raises(InvalidParameterError, match=regex):
        encode_idx(array)
