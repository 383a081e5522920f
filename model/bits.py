"""Pack and unpack Amaranth ``lib.data`` layouts as plain Python integers.

A layout defined once (a port payload, later a command) is used by the hardware as a view
and by Python code (benches, driver) through these two functions, so the bit positions
exist in exactly one place.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import data, enum

__all__ = ["pack", "unpack", "layout_width"]


def layout_width(layout) -> int:
    return Shape.cast(layout).width


def _pack_scalar(shape, value: Any, where: str) -> int:
    if isinstance(shape, enum.EnumMeta) or isinstance(value, enum.Enum):
        value = value.value if isinstance(value, enum.Enum) else value
    s = Shape.cast(shape)
    lo = -(1 << (s.width - 1)) if s.signed else 0
    hi = (1 << (s.width - 1)) - 1 if s.signed else (1 << s.width) - 1
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{where}={value}: does not fit {s}, allowed {lo}..{hi}")
    return value & ((1 << s.width) - 1)


def pack(layout, value: Any, _where: str = "value") -> int:
    """Encode ``value`` (dict for structs, a one-member dict for unions, sequence for
    arrays, int/enum for scalars)."""
    if isinstance(layout, data.StructLayout):
        if not isinstance(value, dict):
            raise TypeError(f"{_where}: expected a dict for {layout!r}")
        unknown = set(value) - {name for name, _ in layout}
        if unknown:
            raise ValueError(f"{_where}: unknown fields {sorted(unknown)}")
        out = 0
        for name, field in layout:
            if name in value:
                out |= pack(field.shape, value[name], f"{_where}.{name}") << field.offset
        return out
    if isinstance(layout, data.UnionLayout):
        if not isinstance(value, dict) or len(value) > 1:
            raise TypeError(f"{_where}: expected a dict with at most one member of {layout!r}")
        return sum(pack(layout[name].shape, v, f"{_where}.{name}") for name, v in value.items())
    if isinstance(layout, data.ArrayLayout):
        value = list(value)
        if len(value) != layout.length:
            raise ValueError(f"{_where}: {len(value)} elements, layout has {layout.length}")
        width = layout_width(layout.elem_shape)
        out = 0
        for i, v in enumerate(value):
            out |= pack(layout.elem_shape, v, f"{_where}[{i}]") << (i * width)
        return out
    return _pack_scalar(layout, value, _where)


def unpack(layout, raw: int) -> Any:
    """Decode an integer into dicts, lists and (signed) ints; enums become members; a
    union gives every member's view."""
    if isinstance(layout, (data.StructLayout, data.UnionLayout)):  # a union: every view
        return {name: unpack(field.shape, raw >> field.offset) for name, field in layout}
    if isinstance(layout, data.ArrayLayout):
        width = layout_width(layout.elem_shape)
        return [unpack(layout.elem_shape, raw >> (i * width)) for i in range(layout.length)]
    s = Shape.cast(layout)
    v = raw & ((1 << s.width) - 1)
    if s.signed and v >> (s.width - 1):
        v -= 1 << s.width
    if isinstance(layout, enum.EnumMeta):
        return layout(v)
    return v
