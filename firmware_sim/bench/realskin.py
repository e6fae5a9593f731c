"""Heart rate on the real skin-crop dev set (``real-skin-dev``, kept beside the repository).

Each subject has three time-aligned skin crops (forehead, left cheek, right cheek).
The pipeline runs with ``roi.mode = "full"`` on the forehead alone and on the three
crops tiled side by side into one frame (so the ROI mean fuses them), and the
recording's heart rate is the median of its ``ok`` readings. The table also gives
the coverage (share of readings that passed the quality gates), the same without the
SNR and motion gates (``ungated``: what the estimator says when forced to answer), and, for
scale, the error of a constant 72 bpm guess.

    python -m firmware_sim.bench.realskin [DATA_DIR] [--method pos] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import edge
from edge.capture.video_file import VideoFileSource

CROPS = ("forehead", "leftcheek", "rightcheek")
PRIOR_BPM = 72.0


def default_data_dir() -> Path:
    """The ``real-skin-dev`` folder of the data directory beside the repository."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "real-skin-dev"


def _tiled(paths: list[Path]) -> Iterator[tuple[np.ndarray, float]]:
    sources = [VideoFileSource(p) for p in paths]
    try:
        for items in zip(*sources, strict=False):
            yield np.ascontiguousarray(np.hstack([frame for frame, _ in items])), items[0][1]
    finally:
        for src in sources:
            src.close()


def evaluate(data_dir: Path, *, method: str = "pos") -> list[dict[str, object]]:
    """One row per subject and variant: reference, estimate, error, coverage."""
    truth_path = data_dir / "ground_truth.csv"
    with open(truth_path, newline="", encoding="utf-8") as f:
        truth = {row["subject"]: float(row["heart_rate_bpm"]) for row in csv.DictReader(f)}
    gated = edge.PipelineConfig().with_changes(roi={"mode": "full"}, rppg={"method": method})
    ungated = gated.with_changes(rppg={"min_snr_db": -30.0, "max_band_luma_fraction": 1.0})
    rows = []
    for subject, reference in truth.items():
        forehead = data_dir / f"{subject}_forehead.avi"
        variants = {
            "forehead": (VideoFileSource(forehead), gated),
            "fused": (_tiled([data_dir / f"{subject}_{crop}.avi" for crop in CROPS]), gated),
            "ungated": (VideoFileSource(forehead), ungated),
        }
        for variant, (frames, config) in variants.items():
            track = edge.process_video(frames, config=config)
            ok = np.isfinite(track.heart_rate_bpm)
            estimate = float(np.median(track.heart_rate_bpm[ok])) if ok.any() else None
            rows.append({
                "subject": subject, "variant": variant, "reference_bpm": reference,
                "estimate_bpm": estimate,
                "error_bpm": None if estimate is None else estimate - reference,
                "coverage": float(ok.mean()) if len(track) else 0.0,
            })
    return rows


def _summary(rows: list[dict[str, object]], variant: str) -> str:
    sel = [r for r in rows if r["variant"] == variant]
    errors = np.array([r["error_bpm"] for r in sel if r["error_bpm"] is not None], dtype=float)
    cover = np.mean([r["coverage"] for r in sel])
    mae = f"{np.mean(np.abs(errors)):.1f}" if errors.size else "n/a"
    return (f"{variant:9s} MAE {mae} bpm over {errors.size}/{len(sel)} recordings with a "
            f"reading; mean coverage {100 * cover:.0f} %")


def main(argv: list[str] | None = None) -> int:
    """Print the per-subject table and the MAE of each variant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--method", default="pos", choices=edge.config.METHOD_NAMES)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if not (args.data_dir / "ground_truth.csv").is_file():
        print(f"no ground_truth.csv in {args.data_dir}", file=sys.stderr)
        return 2
    rows = evaluate(args.data_dir, method=args.method)
    print("| subject | variant | reference bpm | estimate bpm | error bpm | coverage |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        est = "none" if r["estimate_bpm"] is None else f"{r['estimate_bpm']:.1f}"
        err = "" if r["error_bpm"] is None else f"{r['error_bpm']:+.1f}"
        print(f"| {r['subject']} | {r['variant']} | {r['reference_bpm']:.1f} | {est} | {err} | "
              f"{100 * r['coverage']:.0f} % |")
    print()
    for variant in ("forehead", "fused", "ungated"):
        print(_summary(rows, variant))
    refs = np.array(sorted({(r["subject"], r["reference_bpm"]) for r in rows}))[:, 1].astype(float)
    print(f"constant {PRIOR_BPM:.0f} bpm guess: MAE {np.mean(np.abs(refs - PRIOR_BPM)):.1f} bpm "
          "(what a prior alone scores here)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
