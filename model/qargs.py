"""Argument checks and sliding-window helpers shared by :mod:`.onnx_ops`, :mod:`.layers`
and :mod:`.ort_contrib` (package-internal: the names keep their leading underscore).

Every check raises :class:`~.numerics.NumericsError` naming the argument and what is
allowed.
"""

from __future__ import annotations

import numpy as np

from .numerics import OUTPUT_TYPES, NumericsError

_QTYPES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}


def _qtype(name: str, a: np.ndarray) -> str:
    if a.dtype not in _QTYPES:
        raise NumericsError(f"{name}: dtype {a.dtype} not supported, allowed int8 or uint8")
    return _QTYPES[a.dtype]


def _quantized(name: str, a, ndim: int | None = None, shape_doc: str = "") -> tuple[np.ndarray, str]:
    a = np.asarray(a)
    qt = _qtype(name, a)
    if ndim is not None and a.ndim != ndim:
        raise NumericsError(f"{name}: must be {ndim}-D {shape_doc}, got shape {a.shape}")
    if 0 in a.shape:
        raise NumericsError(f"{name}: must not be empty, got shape {a.shape}")
    return a, qt


def _int_zero_point(name: str, zp, qtype: str) -> int:
    """A per-tensor zero point as a Python int inside ``qtype``'s range."""
    a = np.asarray(zp)
    if a.size != 1:
        raise NumericsError(f"{name}: must be a scalar (per tensor), got shape {a.shape}")
    v = a.reshape(()).item()
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise NumericsError(f"{name}={v!r}: must be an integer")
    lo, hi, _ = OUTPUT_TYPES[qtype]
    if not lo <= int(v) <= hi:
        raise NumericsError(f"{name}={int(v)}: out of range for {qtype}, allowed {lo}..{hi}")
    return int(v)


def _pair(name: str, v, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``."""
    vals = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    try:
        vals = tuple(vals)
    except TypeError:
        raise NumericsError(f"{name}={v!r}: must be an int or a pair (h, w) of ints") from None
    if len(vals) != 2 or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in vals):
        raise NumericsError(f"{name}={v!r}: must be an int or a pair (h, w) of ints")
    if any(x < minimum for x in vals):
        raise NumericsError(f"{name}={v!r}: each value must be >= {minimum}")
    return int(vals[0]), int(vals[1])


def _padding(v) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding`` as ((top, bottom), (left, right)), all >= 0."""
    try:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            p = _pair("padding", v, 0)
            return (p[0], p[0]), (p[1], p[1])
        items = tuple(v)
        if len(items) == 2 and all(isinstance(x, (int, np.integer)) for x in items):
            p = _pair("padding", items, 0)
            return (p[0], p[0]), (p[1], p[1])
        if len(items) == 2:
            return _pair("padding", items[0], 0), _pair("padding", items[1], 0)
    except (TypeError, NumericsError):
        pass
    raise NumericsError(f"padding={v!r}: must be an int, a pair (ph, pw) or "
                        "((top, bottom), (left, right)) of ints >= 0")


def _window_geometry(spatial: tuple[int, int], kernel, stride, padding, dilation):
    """Output size per axis for a 2-D sliding window; raises if it would be empty."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = padding
    eff = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    out = ((spatial[0] + pt + pb - eff[0]) // sh + 1, (spatial[1] + pl + pr - eff[1]) // sw + 1)
    if spatial[0] + pt + pb < eff[0] or spatial[1] + pl + pr < eff[1]:
        raise NumericsError(f"kernel={kernel} with dilation={dilation}: the window (extent {eff}) "
                            f"does not fit the padded input {spatial} + padding {padding}")
    return out


def _pool_windows(x: np.ndarray, kernel, stride, pads, dilation, fill: int):
    """Yield, per kernel offset (row-major), the (N, C, OH, OW) window values and a
    validity mask (False where the tap lies in the padding, which holds ``fill``)."""
    (pt, pb), (pl, pr) = pads
    oh, ow = _window_geometry(x.shape[2:], kernel, stride, pads, dilation)
    xp = np.pad(x.astype(np.int64), [(0, 0), (0, 0), (pt, pb), (pl, pr)], constant_values=fill)
    vp = np.pad(np.ones(x.shape[2:], dtype=bool), [(pt, pb), (pl, pr)], constant_values=False)
    (sh, sw), (dh, dw) = stride, dilation
    for ki in range(kernel[0]):
        for kj in range(kernel[1]):
            rows = slice(ki * dh, ki * dh + (oh - 1) * sh + 1, sh)
            cols = slice(kj * dw, kj * dw + (ow - 1) * sw + 1, sw)
            yield xp[:, :, rows, cols], vp[rows, cols]


def _valid_counts(x_shape, kernel, stride, pads, dilation) -> np.ndarray:
    """Number of non-padding taps per output position (OH, OW); raises if any is 0."""
    counts = 0
    dummy = np.zeros((1, 1) + tuple(x_shape[2:]), dtype=np.int8)
    for _, valid in _pool_windows(dummy, kernel, stride, pads, dilation, 0):
        counts = counts + valid.astype(np.int64)
    if np.any(counts == 0):
        i, j = np.argwhere(counts == 0)[0]
        raise NumericsError(f"padding={pads}, dilation={dilation}: the window of output "
                            f"({i}, {j}) covers only padding; reduce padding")
    return counts


def _as_scale32(name: str, v) -> float:
    a = np.asarray(v)
    if a.size != 1:
        raise NumericsError(f"{name}: must be a scalar, got shape {a.shape}")
    with np.errstate(over="ignore"):
        s = np.float32(a.reshape(()).astype(np.float64))
    if not (np.isfinite(s) and s > 0):
        raise NumericsError(f"{name}={a.reshape(()).item()!r}: must be a positive finite "
                            "float32, allowed (1.4e-45, 3.4e38]")
    return s


