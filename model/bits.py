"""Pack and unpack Amaranth ``lib.data`` layouts as plain Python integers.

A layout defined once (a port payload, later a command) is used by the hardware as a view
and by Python code (benches, driver) through these two functions, so the bit positions
exist in exactly one place.
"""

from __future__ import annotations

import enum as py_enum
from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import data, enum

__all__ = ["pack", "unpack", "layout_width"]


def layout_width(layout) -> int:
    return Shape.cast(layout).width


def pack(layout, value: Any, _where: str = "value") -> int:
    """Encode ``value`` (dict for structs, a one-member dict for unions, sequence for
    arrays, int/enum for scalars); a value that does not fit raises ``ValueError``
    naming the field and its range."""
    return _encoder(layout)(value, _where)


_ENCODERS: dict[int, tuple[Any, Any]] = {}


def _encoder(layout):
    """A function ``(value, where) -> int`` for ``layout``, built once per layout object."""
    hit = _ENCODERS.get(id(layout))
    if hit is not None and hit[0] is layout:
        return hit[1]
    if isinstance(layout, data.StructLayout):
        fields = {name: (field.offset, _encoder(field.shape)) for name, field in layout}

        def encode(value, where, fields=fields):
            if not isinstance(value, dict):
                raise TypeError(f"{where}: expected a dict for {layout!r}")
            out = 0
            for name, v in value.items():
                try:
                    offset, f = fields[name]
                except KeyError:
                    raise ValueError(f"{where}: unknown fields {sorted(set(value) - set(fields))}") from None
                out |= f(v, f"{where}.{name}") << offset
            return out
    elif isinstance(layout, data.UnionLayout):
        members = {name: _encoder(field.shape) for name, field in layout}

        def encode(value, where, members=members):
            if not isinstance(value, dict) or len(value) > 1:
                raise TypeError(f"{where}: expected a dict with at most one member of {layout!r}")
            return sum(members[name](v, f"{where}.{name}") for name, v in value.items())
    elif isinstance(layout, data.ArrayLayout):
        width, elem, n = layout_width(layout.elem_shape), _encoder(layout.elem_shape), layout.length

        def encode(value, where, width=width, elem=elem, n=n):
            value = list(value)
            if len(value) != n:
                raise ValueError(f"{where}: {len(value)} elements, layout has {n}")
            out = 0
            for i, v in enumerate(value):
                out |= elem(v, f"{where}[{i}]") << (i * width)
            return out
    else:
        s = Shape.cast(layout)
        lo = -(1 << (s.width - 1)) if s.signed and s.width else 0
        hi = (1 << (s.width - 1)) - 1 if s.signed and s.width else (1 << s.width) - 1
        mask = (1 << s.width) - 1

        def encode(value, where, lo=lo, hi=hi, mask=mask, s=s):
            if isinstance(value, py_enum.Enum):
                value = value.value
            value = int(value)
            if not lo <= value <= hi:
                raise ValueError(f"{where}={value}: does not fit {s}, allowed {lo}..{hi}")
            return value & mask
    _ENCODERS[id(layout)] = (layout, encode)
    return encode


def unpack(layout, raw: int) -> Any:
    """Decode an integer into dicts, lists and (signed) ints; enums become members; a
    union gives every member's view."""
    return _decoder(layout)(raw)


_DECODERS: dict[int, tuple[Any, Any]] = {}


def _decoder(layout):
    """A function ``raw -> value`` for ``layout``, built once per layout object (layouts
    are immutable; casting shapes field by field on every call is what costs)."""
    hit = _DECODERS.get(id(layout))
    if hit is not None and hit[0] is layout:
        return hit[1]
    if isinstance(layout, (data.StructLayout, data.UnionLayout)):
        fields = [(name, field.offset, _decoder(field.shape)) for name, field in layout]

        def decode(raw, fields=fields):
            return {name: f(raw >> offset) for name, offset, f in fields}
    elif isinstance(layout, data.ArrayLayout):
        width, elem, n = layout_width(layout.elem_shape), _decoder(layout.elem_shape), layout.length

        def decode(raw, width=width, elem=elem, n=n):
            return [elem(raw >> (i * width)) for i in range(n)]
    else:
        s = Shape.cast(layout)
        mask, top, sign = (1 << s.width) - 1, 1 << s.width, s.signed and s.width > 0
        half = 1 << (s.width - 1) if s.width else 0
        members = {m.value: m for m in layout} if isinstance(layout, enum.EnumMeta) else None

        def decode(raw, mask=mask, top=top, sign=sign, half=half, members=members):
            v = raw & mask
            if sign and v >= half:
                v -= top
            if members is not None:
                try:
                    return members[v]
                except KeyError:
                    raise ValueError(f"{v} is not a valid {layout.__name__}") from None
            return v
    _DECODERS[id(layout)] = (layout, decode)
    return decode
