#!/usr/bin/python3
"""A small GGUF (version 3) writer and reader, from the format's description.

File layout: magic "GGUF", uint32 version, uint64 tensor count, uint64 metadata count; the
metadata (string key, uint32 value type, value); the tensor infos (string name, uint32 n_dims,
uint64 ne[n_dims] with ne[0] the contiguous dimension, uint32 ggml type, uint64 offset relative to
the data section); padding to `general.alignment` (default 32); the data section. Strings are a
uint64 byte length and UTF-8 bytes; arrays are a uint32 element type, a uint64 count and the
elements. Everything little-endian.
"""

import struct

import numpy as np

from ggml_quants import GGML_TYPES, TYPE_BY_ID, nbytes

MAGIC = b"GGUF"
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = \
    range(13)
_SCALAR = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
           FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}


class Writer:
    """Collects metadata (typed explicitly) and tensors, then writes the file in one go."""

    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = []  # (key, type, value, element type for arrays)
        self.tensors = []  # (name, ne list, type name, uint8 bytes)

    def add(self, key, vtype, value, element_type=None):
        self.kv.append((key, vtype, value, element_type))

    def add_tensor(self, name, ne, type_name, data):
        n = int(np.prod(ne))
        assert data.dtype == np.uint8 and data.size == nbytes(type_name, n), name
        self.tensors.append((name, list(ne), type_name, data))

    @staticmethod
    def _string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value, element_type):
        if vtype == STRING:
            return self._string(value)
        if vtype == ARRAY:
            out = struct.pack("<IQ", element_type, len(value))
            if element_type == STRING:
                return out + b"".join(self._string(s) for s in value)
            if element_type == ARRAY:
                # Nested arrays: each element is (element type, values).
                return out + b"".join(self._value(ARRAY, v, et) for et, v in value)
            return out + np.asarray(value, dtype=_SCALAR[element_type]).tobytes()
        return struct.pack(_SCALAR[vtype], value)

    def write(self, path):
        head = bytearray(MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for key, vtype, value, element_type in self.kv:
            head += self._string(key) + struct.pack("<I", vtype)
            head += self._value(vtype, value, element_type)
        offset = 0
        offsets = []
        for name, ne, type_name, data in self.tensors:
            offsets.append(offset)
            head += self._string(name) + struct.pack("<I", len(ne))
            head += struct.pack(f"<{len(ne)}Q", *ne)
            head += struct.pack("<IQ", GGML_TYPES[type_name][0], offset)
            offset += -(-data.size // self.alignment) * self.alignment
        head += b"\0" * (-len(head) % self.alignment)
        with open(path, "wb") as f:
            f.write(head)
            for (name, ne, type_name, data), off in zip(self.tensors, offsets):
                f.write(data.tobytes())
                f.write(b"\0" * (-data.size % self.alignment))


class Tensor:
    def __init__(self, name, ne, type_name, data):
        self.name, self.ne, self.type_name, self.data = name, ne, type_name, data

    @property
    def n(self):
        return int(np.prod(self.ne))


class Reader:
    """Parses a GGUF v2/v3 file into .metadata (key -> Python value) and .tensors (name -> Tensor
    with a uint8 view of its bytes). Trusts the file less than nothing: bounds are asserted."""

    def __init__(self, path):
        self.buf = np.fromfile(path, dtype=np.uint8)
        self.raw = self.buf.tobytes()
        self.pos = 0
        assert self._take(4) == MAGIC, f"{path}: not a GGUF file"
        version, n_tensors, n_kv = struct.unpack("<IQQ", self._take(20))
        assert version in (2, 3), f"{path}: GGUF version {version}"
        self.metadata = {}
        for _ in range(n_kv):
            key = self._string()
            (vtype,) = struct.unpack("<I", self._take(4))
            self.metadata[key] = self._value(vtype)
        alignment = self.metadata.get("general.alignment", 32)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            (n_dims,) = struct.unpack("<I", self._take(4))
            ne = list(struct.unpack(f"<{n_dims}Q", self._take(8 * n_dims)))
            type_id, offset = struct.unpack("<IQ", self._take(12))
            infos.append((name, ne, TYPE_BY_ID[type_id], offset))
        data_start = -(-self.pos // alignment) * alignment
        self.tensors = {}
        for name, ne, type_name, offset in infos:
            size = nbytes(type_name, int(np.prod(ne)))
            start = data_start + offset
            assert start + size <= self.buf.size, f"tensor {name} past the end"
            self.tensors[name] = Tensor(name, ne, type_name, self.buf[start:start + size])

    def _take(self, n):
        assert self.pos + n <= len(self.raw), "truncated"
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def _string(self):
        (n,) = struct.unpack("<Q", self._take(8))
        return self._take(n).decode("utf-8")

    def _value(self, vtype):
        if vtype == STRING:
            return self._string()
        if vtype == ARRAY:
            element_type, count = struct.unpack("<IQ", self._take(12))
            if element_type in (STRING, ARRAY):
                return [self._value(element_type) for _ in range(count)]
            fmt = _SCALAR[element_type]
            size = struct.calcsize(fmt)
            return list(struct.unpack(f"<{count}{fmt[1]}", self._take(size * count)))
        fmt = _SCALAR[vtype]
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
