"""Golden model: configuration, bit-exact numerics and array semantics (numpy)."""
