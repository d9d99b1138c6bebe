"""Reading and writing the IDX format of MNIST and Fashion-MNIST.

An IDX file (http://yann.lecun.com/exdb/mnist/, "file formats") is a 4-byte
magic number ``0x00 0x00 T D`` -- two zero bytes, a dtype code ``T`` and the
number of dimensions ``D`` -- then ``D`` big-endian uint32 sizes, then the
values in C order, big-endian. MNIST images use magic ``0x00000803`` (ubyte,
3 dims: N, 28, 28) and labels ``0x00000801`` (ubyte, 1 dim: N). The files
are distributed gzip-compressed; :func:`read_idx` accepts either form.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, InvalidParameterError
from ..io import atomic_write_bytes

# dtype code -> big-endian NumPy dtype (the IDX specification's six types).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_ALLOWED = "0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double"


def read_idx(source: str | os.PathLike | bytes | bytearray | memoryview) -> np.ndarray:
    """Parse a raw or gzip-compressed IDX file into an array.

    Args:
        source: a path, or the file's bytes. Gzip is recognised by its
            magic bytes ``1f 8b``, not by the file name.

    Returns:
        A writable array of shape ``(d1, ..., dD)`` in native byte order, e.g.
        uint8 ``(60000, 28, 28)`` for MNIST training images.

    Raises:
        DataError: the gzip stream is truncated or corrupt, the magic number
            is not ``0x0000TTDD``, the dtype code is unknown, the header is
            short, or the payload is shorter or longer than the product of the
            dimensions. Messages name the file.
    """
    name, data = _raw_bytes(source)
    dims, dtype, header = _parse_header(name, data)
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(
            f"{name}: truncated IDX payload: dimensions {dims} of {dtype.name} "
            f"need {expected} bytes of data, found {found}."
        )
    if found > expected:
        raise DataError(
            f"{name}: {found - expected} trailing bytes after the IDX payload "
            f"(dimensions {dims} of {dtype.name} need {expected} bytes, found "
            f"{found})."
        )
    arr = np.frombuffer(
        data, dtype=dtype, count=expected // dtype.itemsize, offset=header
    )
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _raw_bytes(source) -> tuple[str, bytes]:
    """(name for messages, the file's bytes, gunzipped when they start 1f 8b)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, data = "<IDX bytes>", bytes(source)
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read IDX file {name!r}: {exc}") from exc
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(
                f"{name}: truncated or corrupt gzip data ({type(exc).__name__}: "
                f"{exc}); delete the file so that it is downloaded again."
            ) from exc
    return name, data


def _parse_header(name: str, data: bytes) -> tuple[tuple[int, ...], np.dtype, int]:
    """(dimensions, dtype, header length) from the magic number 0x0000TTDD and
    the D big-endian uint32 sizes after it."""
    if len(data) < 4:
        raise DataError(
            f"{name}: too short for an IDX header ({len(data)} bytes; the magic "
            "number alone takes 4)."
        )
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or ndim == 0:
        raise DataError(
            f"{name}: not an IDX file: magic number 0x{magic:08X}; expected "
            "0x0000TTDD with a dtype code TT and D >= 1 dimensions (MNIST images "
            "0x00000803, labels 0x00000801)."
        )
    if code not in IDX_DTYPES:
        raise DataError(
            f"{name}: unknown IDX dtype code 0x{code:02X} (magic number "
            f"0x{magic:08X}); allowed codes are {_ALLOWED}."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header} "
            f"bytes, the file has {len(data)}."
        )
    return struct.unpack(f">{ndim}I", data[4:header]), IDX_DTYPES[code], header


def encode_idx(array: Any, *, compress: bool = False) -> bytes:
    """Encode an array as IDX bytes (gzip-compressed when ``compress``).

    Args:
        array: 1-D or higher array of dtype uint8, int8, int16, int32,
            float32 or float64; every dimension must fit in a uint32.
        compress: gzip the result (with a zero timestamp, so output is
            reproducible).

    Raises:
        InvalidParameterError: unsupported dtype or a 0-d array.
    """
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=")
    if key not in _CODES:
        raise InvalidParameterError(
            "encode_idx: 'array' must have dtype uint8, int8, int16, int32, "
            f"float32 or float64 (IDX codes {_ALLOWED}). Got {arr.dtype}."
        )
    if arr.ndim == 0 or arr.ndim > 255 or max(arr.shape) >= 2**32:
        raise InvalidParameterError(
            "encode_idx: 'array' must have 1 to 255 dimensions, each below 2**32. "
            f"Got shape {arr.shape}."
        )
    code = _CODES[key]
    header = struct.pack(f">HBB{arr.ndim}I", 0, code, arr.ndim, *arr.shape)
    raw = header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


def write_idx(
    path: str | os.PathLike, array: Any, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as an IDX file atomically and return its path.

    ``compress=None`` gzips when the name ends in ``.gz``. See
    :func:`encode_idx` for the accepted arrays.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    atomic_write_bytes(path, encode_idx(array, compress=compress))
    return path
