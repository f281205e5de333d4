#!/usr/bin/python3
"""ggml tensor types in numpy: quantizers and dequantizers written from the block layouts.

Layouts (little-endian, packed; "half" is IEEE binary16):
  Q8_0: 32 values, 34 bytes: half d, int8 q[32]                  x = d * q
  Q4_0: 32 values, 18 bytes: half d, uint8 qs[16]                x[j] = d * ((qs[j] & 15) - 8)
                                                                  x[j+16] = d * ((qs[j] >> 4) - 8)
  Q4_K: 256 values, 144 bytes: half d, half dmin, uint8 scales[12], uint8 qs[128]
        eight sub-blocks of 32; sub-block s: x = (d * sc[s]) * q - dmin * m[s], q in 0..15.
        scales: bytes 0-3 = low 6 bits of sc[0..3] (top 2 bits: high bits of sc[4..7]),
                bytes 4-7 = low 6 bits of m[0..3] (top 2 bits: high bits of m[4..7]),
                bytes 8-11 = low 4 bits of sc[4..7] | low 4 bits of m[4..7] << 4.
        qs: chunk c (0..3) of 32 bytes holds sub-block 2c in the low nibbles and 2c+1 in the high.
  Q6_K: 256 values, 210 bytes: uint8 ql[128], uint8 qh[64], int8 scales[16], half d
        value v: h = v // 128, quarter = (v % 128) // 32, l = v % 32;
        low 4 bits: nibble (low for quarters 0-1, high for 2-3) of ql[64h + 32*(quarter & 1) + l];
        high 2 bits: bits 2*quarter.. of qh[32h + l]; x = (d * scales[v // 16]) * (q6 - 32).

The dequantizers compute in float32 with the same operations in the same order as the format
defines (a product, then a difference: never fused), so they are bit-exact against any faithful
implementation. The quantizers only need to produce valid blocks with a sensible error; they are
simpler than llama.cpp's (no iterative scale search).
"""

import numpy as np

GGML_TYPES = {
    # name: (id, block size, block bytes)
    "f32": (0, 1, 4),
    "f16": (1, 1, 2),
    "q4_0": (2, 32, 18),
    "q8_0": (8, 32, 34),
    "q4_k": (12, 256, 144),
    "q6_k": (14, 256, 210),
    "bf16": (30, 1, 2),
}
TYPE_BY_ID = {v[0]: k for k, v in GGML_TYPES.items()}

F32 = np.float32


def nbytes(type_name, n):
    _, block, size = GGML_TYPES[type_name]
    assert n % block == 0, f"{n} values are not whole {type_name} blocks of {block}"
    return n // block * size


def _half(values):
    """float32 array -> (uint8 bytes of the halves, float32 of the rounded halves)."""
    h = np.asarray(values, dtype=F32).astype(np.float16)
    return h.view(np.uint8).reshape(*h.shape, 2), h.astype(F32)


def _blocks(x, size):
    x = np.asarray(x, dtype=F32).reshape(-1)
    assert x.size % size == 0
    return x.reshape(-1, size)


# ---------------------------------------------------------------- quantizers (float32 -> bytes)

def quantize_f32(x):
    return np.asarray(x, dtype="<f4").reshape(-1).view(np.uint8)


def quantize_f16(x):
    return np.asarray(x, dtype=F32).reshape(-1).astype("<f2").view(np.uint8)


def quantize_bf16(x):
    # Round to nearest even on the dropped 16 bits (values here are finite).
    bits = np.asarray(x, dtype=F32).reshape(-1).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").view(np.uint8)


def quantize_q8_0(x):
    b = _blocks(x, 32)
    amax = np.abs(b).max(axis=1)
    d_bytes, d = _half(amax / 127.0)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.rint(b * inv[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([d_bytes, q.view(np.uint8)], axis=1).reshape(-1)


def quantize_q4_0(x):
    b = _blocks(x, 32)
    # The value of largest magnitude maps to -8, so the full signed range is used.
    idx = np.abs(b).argmax(axis=1)
    signed_max = b[np.arange(b.shape[0]), idx]
    d_bytes, d = _half(signed_max / -8.0)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.floor(b * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    qs = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([d_bytes, qs], axis=1).reshape(-1)


def _pack_q4k_scales(sc, m):
    """sc, m: (n, 8) ints in 0..63 -> (n, 12) bytes."""
    sc = sc.astype(np.uint8)
    m = m.astype(np.uint8)
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def _unpack_q4k_scales(packed):
    """(n, 12) bytes -> sc, m as (n, 8) uint8."""
    p = packed.astype(np.uint8)
    sc = np.empty((p.shape[0], 8), dtype=np.uint8)
    m = np.empty((p.shape[0], 8), dtype=np.uint8)
    sc[:, 0:4] = p[:, 0:4] & 63
    m[:, 0:4] = p[:, 4:8] & 63
    sc[:, 4:8] = (p[:, 8:12] & 15) | ((p[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (p[:, 8:12] >> 4) | ((p[:, 4:8] >> 6) << 4)
    return sc, m


def quantize_q4_k(x):
    sub = _blocks(x, 32).reshape(-1, 8, 32)
    lo = np.minimum(sub.min(axis=2), 0.0)  # the min is subtracted, so it is <= 0
    hi = sub.max(axis=2)
    scale = (hi - lo) / 15.0
    minus_min = -lo
    d_bytes, d = _half(scale.max(axis=1) / 63.0)
    dmin_bytes, dmin = _half(minus_min.max(axis=1) / 63.0)
    inv_d = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    inv_dmin = np.divide(1.0, dmin, out=np.zeros_like(dmin), where=dmin != 0)
    sc = np.clip(np.rint(scale * inv_d[:, None]), 0, 63)
    m = np.clip(np.rint(minus_min * inv_dmin[:, None]), 0, 63)
    # Quantize against the scales as they will be decoded.
    eff_d = (d[:, None] * sc.astype(F32)).astype(F32)
    eff_m = (dmin[:, None] * m.astype(F32)).astype(F32)
    inv = np.divide(1.0, eff_d, out=np.zeros_like(eff_d), where=eff_d != 0)
    q = np.clip(np.rint((sub + eff_m[:, :, None]) * inv[:, :, None]), 0, 15).astype(np.uint8)
    q = q.reshape(-1, 4, 2, 32)  # chunk, (low sub-block, high sub-block), lane
    qs = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(-1, 128)
    scales = _pack_q4k_scales(sc, m)
    return np.concatenate([d_bytes, dmin_bytes, scales, qs], axis=1).reshape(-1)


def quantize_q6_k(x):
    sub = _blocks(x, 256).reshape(-1, 16, 16)
    idx = np.abs(sub).argmax(axis=2)
    signed_max = np.take_along_axis(sub, idx[:, :, None], axis=2)[:, :, 0]
    scale = signed_max / -32.0  # the largest magnitude lands on -32; scales may be negative
    d_bytes, d = _half(np.abs(scale).max(axis=1) / 127.0)
    inv_d = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    sc = np.clip(np.rint(scale * inv_d[:, None]), -128, 127).astype(np.int8)
    eff = (d[:, None] * sc.astype(F32)).astype(F32)
    inv = np.divide(1.0, eff, out=np.zeros_like(eff), where=eff != 0)
    q6 = (np.clip(np.rint(sub * inv[:, :, None]), -32, 31) + 32).astype(np.uint8).reshape(-1, 256)
    n = q6.shape[0]
    ql = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 64), dtype=np.uint8)
    for h in range(2):
        for quarter in range(4):
            vals = q6[:, 128 * h + 32 * quarter: 128 * h + 32 * quarter + 32]
            at = 64 * h + 32 * (quarter & 1)
            ql[:, at:at + 32] |= (vals & 15) << (4 if quarter >= 2 else 0)
            qh[:, 32 * h: 32 * h + 32] |= (vals >> 4) << (2 * quarter)
    return np.concatenate([ql, qh, sc.view(np.uint8), d_bytes], axis=1).reshape(-1)


QUANTIZERS = {
    "f32": quantize_f32, "f16": quantize_f16, "bf16": quantize_bf16, "q8_0": quantize_q8_0,
    "q4_0": quantize_q4_0, "q4_k": quantize_q4_k, "q6_k": quantize_q6_k,
}


# -------------------------------------------------------------- dequantizers (bytes -> float32)

def _load_half(u8):
    return np.ascontiguousarray(u8).view("<f2").astype(F32)[..., 0]


def dequantize(type_name, data, n):
    """data: uint8 array holding n values of type_name -> float32 array of n."""
    data = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    data = data[: nbytes(type_name, n)]
    if type_name == "f32":
        return data.view("<f4").astype(F32)
    if type_name == "f16":
        return data.view("<f2").astype(F32)
    if type_name == "bf16":
        return (data.view("<u2").astype(np.uint32) << 16).view(F32)
    if type_name == "q8_0":
        b = data.reshape(-1, 34)
        d = _load_half(b[:, 0:2])
        q = b[:, 2:].view(np.int8).astype(F32)
        return (q * d[:, None]).reshape(-1)
    if type_name == "q4_0":
        b = data.reshape(-1, 18)
        d = _load_half(b[:, 0:2])
        qs = b[:, 2:].astype(np.int32)
        q = np.concatenate([(qs & 15) - 8, (qs >> 4) - 8], axis=1).astype(F32)
        return (q * d[:, None]).reshape(-1)
    if type_name == "q4_k":
        b = data.reshape(-1, 144)
        d = _load_half(b[:, 0:2])
        dmin = _load_half(b[:, 2:4])
        sc, m = _unpack_q4k_scales(b[:, 4:16])
        d_sub = d[:, None] * sc.astype(F32)  # (n, 8), float32 products
        m_sub = dmin[:, None] * m.astype(F32)
        qs = b[:, 16:].reshape(-1, 4, 32)
        q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32).astype(F32)
        return (d_sub[:, :, None] * q - m_sub[:, :, None]).reshape(-1)
    if type_name == "q6_k":
        b = data.reshape(-1, 210)
        ql = b[:, 0:128]
        qh = b[:, 128:192]
        sc = b[:, 192:208].view(np.int8).astype(F32)
        d = _load_half(b[:, 208:210])
        q6 = np.empty((b.shape[0], 256), dtype=np.int32)
        for h in range(2):
            for quarter in range(4):
                at = 64 * h + 32 * (quarter & 1)
                low = ql[:, at:at + 32]
                low = (low & 15) if quarter < 2 else (low >> 4)
                high = (qh[:, 32 * h: 32 * h + 32] >> (2 * quarter)) & 3
                v = 128 * h + 32 * quarter
                q6[:, v:v + 32] = (low.astype(np.int32) | (high.astype(np.int32) << 4)) - 32
        scale = d[:, None] * sc  # (n, 16)
        return (scale[:, :, None] * q6.reshape(-1, 16, 16).astype(F32)).reshape(-1)
    raise ValueError(f"no dequantizer for {type_name}")


def self_test(seed=0):
    """Round trips random data through every type; the error must be what the type allows."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(256 * 8).astype(F32)
    # Max error relative to max |x| for N(0, 1) data (measured: about half of each bound).
    limits = {"f32": 0, "f16": 5e-4, "bf16": 4e-3, "q8_0": 8e-3, "q4_0": 0.12, "q4_k": 0.1,
              "q6_k": 0.03}
    for name, q in QUANTIZERS.items():
        data = q(x)
        assert data.size == nbytes(name, x.size), name
        y = dequantize(name, data, x.size)
        err = float(np.abs(y - x).max()) / float(np.abs(x).max())
        assert err <= limits[name], f"{name}: relative error {err}"
    return True


if __name__ == "__main__":
    self_test()
    print("ggml_quants: round trips within bounds")
