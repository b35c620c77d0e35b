"""Human-readable counts: "1.4G" <-> 1_400_000_000 (MACs, parameters)."""

from __future__ import annotations

_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_count(text: str | float | int) -> float:
    """Parse 1400000000, "1.4e9", "1.4G", "350M" or "90k"; the error lists the suffixes."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    raw = str(text).strip()
    suffix = raw[-1:].upper() if raw[-1:].isalpha() else ""
    number = raw[: len(raw) - len(suffix)] if suffix else raw
    try:
        if suffix not in _SUFFIXES:
            raise ValueError
        return float(number) * _SUFFIXES[suffix]
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a count; use a number with an optional suffix "
            "K, M, G or T (e.g. 1.4G, 350M)"
        ) from None


def format_count(value: float, digits: int = 3) -> str:
    """1_258_000_000 -> "1.26G"."""
    for suffix in ("T", "G", "M", "K"):
        if abs(value) >= _SUFFIXES[suffix]:
            return f"{value / _SUFFIXES[suffix]:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"
