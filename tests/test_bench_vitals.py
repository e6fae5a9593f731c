"""The breathing benchmark's verdicts: scored readings against the target, none withheld."""

from firmware_sim.bench.vitals import breathing_table


def clip(motion, errors, coverage):
    return {"motion": motion, "breathing_rate_bpm": 12.0, "seed": 1, "errors": errors,
            "coverage": coverage}


def test_breathing_verdicts():
    table = breathing_table([clip("still", [0.2, -0.4], 1.0), clip("mild", [3.0, -1.0], 0.5),
                             clip("moderate", [], 0.0)])
    totals = {line.split("|")[1].strip(" *").split(",")[0]: line
              for line in table.splitlines() if ", all**" in line}
    assert "**0.30** (<= 1 met)" in totals["still"]
    assert "**2.00** (<= 1 MISSED)" in totals["mild"]
    assert "(no readings: withheld) | 0 %" in totals["moderate"]
