"""Accuracy changes in percentage points, printed the same way by every table, card and report."""


def signed_points(fraction: float) -> str:
    """ "+9.2": a change of a fraction in percentage points. The same change reached by two float paths (a mean of
    paired differences, a difference of two means) can straddle a rounding boundary (0.0925 vs 0.09250000000000003):
    rounded to 9 decimals first, every table prints it the same way."""
    return f"{round(100 * fraction, 9):+.1f}"
