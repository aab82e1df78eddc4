"""The one claims-row schema: every row of ``metrics/claims.csv``, whoever makes it (C1-C5
in :mod:`.c1_c5`, C6/C7 in :mod:`.c6_c7`, C8 in :mod:`.c8`, C9 in :mod:`.c9`), has the
columns of :data:`SCHEMA`: :func:`claim_row` builds a row, :func:`conform` brings a table
read back from CSV to the schema,
:func:`schema_violations` lists the cells that break it. :data:`CONDITIONS` states each
rule under which ``passed`` is decided as a function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: Conditions: the rule under which ``passed`` was decided, written into the table.
REL = "|measured - predicted| <= tolerance * |predicted|"
ABS = "|measured - predicted| <= tolerance"
LOG_REL = "|log measured - log predicted| <= tolerance * |log predicted|"
ABOVE = "measured > predicted"
BELOW = "measured < predicted"
REPORTED = "reported, no prediction: passed if measured is finite"
NOT_MEASURED = "not measured"

#: The one row schema of every claims table: column -> meaning. SPEC §3's seven columns
#: come first, in its order.
SCHEMA: dict[str, str] = {
    "claim": "claim ID, C1-C9 (SPEC §1)",
    "arch": "architecture (fcn, cnn_f, cnn_p), or the network variant a C8 row is about "
    "(relu_layernorm, deconv_freeze, ...)",
    "quantity": "what was measured, in words",
    "predicted": "the prediction: mean-field theory, the paper, or the notebook",
    "measured": "the value fitted from, or read off, the tables",
    "tolerance": "the number `condition` uses (relative, absolute, or a factor: the condition says which)",
    "passed": "whether `condition` holds (False whenever measured is not finite)",
    "activation": "nonlinearity (erf, tanh, relu)",
    "condition": "the rule under which `passed` was decided, a formula in predicted, measured and tolerance",
    "sigma_w2": "σ_w² of the configuration measured",
    "sigma_b2": "σ_b² of the configuration measured",
    "depth_min": "shallowest depth of the window or grid used (= depth_max for one depth)",
    "depth_max": "deepest depth of the window or grid used",
    "note": "what else the row needs to be read: other settings (width, m, t) and "
    "sub-results (C9: R², spread of l_boundary/ξ, points, censored points)",
}
COLUMNS = list(SCHEMA)

#: Claims whose rows are laws fitted across σ_w² (their σ_w² range is in ``note``).
ACROSS_SIGMA_W2 = {"C9"}


def _empty(v: Any) -> bool:
    return (
        v is None
        or (isinstance(v, str) and not v.strip())
        or (isinstance(v, (float, np.floating)) and not np.isfinite(v))
    )


#: The only cells that may be empty: column -> (when, the test of a row that says so).
#: Every other cell of every row is filled.
NOT_APPLICABLE: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "predicted": (
        "a reported quantity without a prediction (condition = REPORTED), or a "
        "prediction that is itself fitted and could not be (C4's FCN rate): passed "
        "is False and note starts with 'not measured'",
        lambda r: r["condition"] == REPORTED or (not bool(r["passed"]) and str(r["note"]).startswith(NOT_MEASURED)),
    ),
    "measured": (
        "nothing could be measured: passed is False and note starts with 'not measured', saying why",
        lambda r: not bool(r["passed"]) and str(r["note"]).startswith(NOT_MEASURED),
    ),
    "tolerance": (
        "a condition that uses no tolerance (a strict inequality, or reported)",
        lambda r: "tolerance" not in str(r["condition"]),
    ),
    "sigma_w2": ("a law fitted across σ_w² (C9); note gives the σ_w² range", lambda r: r["claim"] in ACROSS_SIGMA_W2),
    "note": ("no remark", lambda r: True),
}


def claim_row(
    claim: str,
    arch: str,
    activation: str,
    quantity: str,
    predicted: float,
    measured: float,
    tolerance: float | None,
    passed: bool,
    condition: str,
    *,
    sigma_w2: float | None,
    sigma_b2: float,
    depth_min: int,
    depth_max: int,
    note: str = "",
) -> dict:
    """One row of :data:`SCHEMA`. ``passed`` is forced False where ``measured`` is not
    finite, or where a prediction is needed (any condition but REPORTED) and is not
    finite; the note then starts with 'not measured' (prepended if absent)."""
    measured = float(measured) if measured is not None else float("nan")
    predicted = float("nan") if predicted is None else float(predicted)
    unpredicted = condition != REPORTED and not np.isfinite(predicted)
    ok = bool(passed) and bool(np.isfinite(measured)) and not unpredicted
    note = note or ""
    if not note.startswith(NOT_MEASURED):
        if not np.isfinite(measured):
            note = f"{NOT_MEASURED}: no finite value (too few points in the window?)" + (f"; {note}" if note else "")
        elif unpredicted:
            note = f"{NOT_MEASURED}: no finite prediction (too few points in its window?)" + (
                f"; {note}" if note else ""
            )
    return {
        "claim": claim,
        "arch": arch,
        "quantity": quantity,
        "predicted": predicted,
        "measured": measured,
        "tolerance": float("nan") if tolerance is None else float(tolerance),
        "passed": ok,
        "activation": activation,
        "condition": condition,
        "sigma_w2": float("nan") if sigma_w2 is None else float(sigma_w2),
        "sigma_b2": float(sigma_b2),
        "depth_min": int(depth_min),
        "depth_max": int(depth_max),
        "note": note,
    }


def schema_violations(frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` breaks :data:`SCHEMA` (empty list: it conforms): columns other
    than :data:`COLUMNS` (in order), empty cells outside :data:`NOT_APPLICABLE`, a pass
    on a non-finite measurement."""
    out = []
    if list(frame.columns) != COLUMNS:
        out.append(f"columns {list(frame.columns)} are not {COLUMNS}")
        return out
    for i, r in enumerate(frame.to_dict("records")):
        for col in COLUMNS:
            if _empty(r[col]) and not (col in NOT_APPLICABLE and NOT_APPLICABLE[col][1](r)):
                out.append(f"row {i} ({r['claim']} {r['arch']} {str(r['quantity'])[:50]!r}): {col} empty")
        if bool(r["passed"]) and _empty(r["measured"]):
            out.append(f"row {i} ({r['claim']}): passed without a measurement")
    return out


#: Conditions decided by predicted, measured and tolerance alone, as functions: a test
#: recomputes ``passed`` from them. (C3's and C9's conditions also use numbers in note.)
CONDITIONS: dict[str, Callable[[float, float, float], bool]] = {
    REL: lambda p, m, t: abs(m - p) <= t * abs(p),
    ABS: lambda p, m, t: abs(m - p) <= t,
    LOG_REL: lambda p, m, t: m > 0 and p > 0 and abs(np.log(m) - np.log(p)) <= t * abs(np.log(p)),
    ABOVE: lambda p, m, t: m > p,
    BELOW: lambda p, m, t: m < p,
    BELOW + " (tolerance: standard error, reported)": lambda p, m, t: m < p,
    REPORTED: lambda p, m, t: bool(np.isfinite(m)),
    "measured >= predicted - tolerance": lambda p, m, t: m >= p - t,
    "measured - predicted >= tolerance": lambda p, m, t: m - p >= t,
    "measured < 0 and |measured - predicted| <= tolerance": lambda p, m, t: m < 0 and abs(m - p) <= t,
    "measured > tolerance": lambda p, m, t: m > t,
    "measured <= tolerance": lambda p, m, t: m <= t,
    "measured >= tolerance": lambda p, m, t: m >= t,
    "|measured| <= tolerance": lambda p, m, t: abs(m) <= t,
    "measured <= 1 - tolerance": lambda p, m, t: m <= 1 - t,
}


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """A claims table read back from CSV on :data:`SCHEMA`: the columns in order (missing
    ones empty), ``passed`` False where ``measured`` is not finite, and the note of such a
    row starting with 'not measured'."""
    out = frame.reindex(columns=COLUMNS).copy()
    out["condition"] = out["condition"].astype(object).replace("", np.nan)
    measured = pd.to_numeric(out["measured"], errors="coerce")
    out["passed"] = out["passed"].astype(bool) & np.isfinite(measured)
    note = out["note"].where(out["note"].notna(), "").astype(object).map(str)
    lost = ~np.isfinite(measured) & ~note.str.startswith(NOT_MEASURED)
    note[lost] = (f"{NOT_MEASURED}: no finite value; " + note[lost]).str.rstrip("; ")
    out["note"] = note.where(note != "", np.nan).astype(object)
    return out
