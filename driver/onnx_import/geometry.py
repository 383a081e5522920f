"""Window geometry of Conv/QLinearConv and of the pools, from their ONNX attributes.

``conv_attrs`` gives the :class:`~systolica.driver.models.QConv2d` geometry fields and the
output shape; ``pool_geometry`` the kernel, strides, pads, dilations and output shape of a
2-D pool. Unsupported attribute values are errors naming the node.
"""

from __future__ import annotations

from ...model.numerics import NumericsError
from ...model.onnx_ops import conv_geometry
from .graph import node_error

__all__ = ["CONV_ATTRS", "POOL_ATTRS", "conv_attrs", "pool_geometry"]


def pool_geometry(node, a: dict, in_shape: tuple[int, ...], dilated: bool):
    """Kernel, strides, pads (top, left, bottom, right), dilations and output shape of a
    2-D pool; its unsupported attributes are errors."""
    if len(in_shape) != 3:
        raise node_error(node, f"input per sample {list(in_shape)}: allowed (C, H, W) (2-D pooling)")
    if a.get("ceil_mode"):
        raise node_error(node, "ceil_mode=1 is not supported")
    if a.get("channels_last"):
        raise node_error(node, "channels_last=1 is not supported (NCHW only)")
    kernel = list(a["kernel_shape"] or [])
    if len(kernel) != 2:
        raise node_error(node, f"kernel_shape={kernel}: need 2 values")
    dil = list(a.get("dilations") or [1, 1])
    if not dilated and dil != [1, 1]:
        raise node_error(node, f"dilations={dil}: not supported")
    try:
        strides, dil, begins, ends, out = conv_geometry(in_shape[1:], kernel, a["strides"], a["pads"],
                                                        dil, a["auto_pad"])
    except NumericsError as e:
        raise node_error(node, str(e)) from None
    return (tuple(kernel), tuple(strides), (begins[0], begins[1], ends[0], ends[1]), tuple(dil),
            (in_shape[0], *out))


POOL_ATTRS = {"auto_pad": "NOTSET", "ceil_mode": 0, "kernel_shape": None, "pads": None, "strides": None}

CONV_ATTRS = {"group": 1, "pads": None, "auto_pad": "NOTSET", "strides": None, "dilations": None,
              "kernel_shape": None}


def conv_attrs(node, a: dict, in_shape: tuple[int, ...], w_shape: tuple[int, ...]):
    """``(geometry, out_shape)`` of a 2-D Conv/QLinearConv: ``geometry`` holds the
    :class:`~systolica.driver.models.QConv2d` fields ``strides``, ``pads`` (top, left,
    bottom, right), ``dilations``, ``groups``."""
    if len(in_shape) != 3 or len(w_shape) != 4:
        raise node_error(node, f"input per sample {list(in_shape)}, weight {list(w_shape)}: only 2-D "
                         "convolution (NCHW input, (M, C/group, kh, kw) weight) is supported")
    kernel = list(w_shape[2:])
    if a["kernel_shape"] is not None and list(a["kernel_shape"]) != kernel:
        raise node_error(node, f"kernel_shape={list(a['kernel_shape'])} differs from the weight's {kernel}")
    group = int(a["group"])
    if group < 1 or in_shape[0] % group or w_shape[0] % group or w_shape[1] * group != in_shape[0]:
        raise node_error(node, f"group={group}: input has {in_shape[0]} channels, weight {list(w_shape)}")
    try:
        strides, dil, begins, ends, out = conv_geometry(in_shape[1:], kernel, a["strides"], a["pads"],
                                                        a["dilations"], a["auto_pad"])
    except NumericsError as e:
        raise node_error(node, str(e)) from None
    geometry = dict(strides=tuple(strides), pads=(begins[0], begins[1], ends[0], ends[1]),
                    dilations=tuple(dil), groups=group)
    return geometry, (int(w_shape[0]), *out)
