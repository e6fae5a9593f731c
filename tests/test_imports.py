"""Import hygiene: `import edge` stays light and changes nothing global."""

import subprocess
import sys
import textwrap


def run_python(code):
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_edge_imports_no_heavy_or_optional_module():
    out = run_python(
        """
        import sys
        import edge
        banned = ["torch", "tensorflow", "cv2", "picamera2", "onnx", "firmware_sim", "export",
                  "matplotlib", "paho", "ai_edge_litert"]
        print(",".join(m for m in banned if m in sys.modules))
        """
    )
    assert out.strip() == ""


def test_import_edge_changes_no_global_state():
    out = run_python(
        """
        import logging, os, warnings
        import numpy, numba, numba.core.config  # dependencies may set their own filters
        env, filters = dict(os.environ), list(warnings.filters)
        root = (logging.getLogger().level, list(logging.getLogger().handlers))
        import edge
        print(dict(os.environ) == env, list(warnings.filters) == filters,
              (logging.getLogger().level, list(logging.getLogger().handlers)) == root)
        """
    )
    assert out.split() == ["True", "True", "True"]


def test_running_a_file_does_not_import_the_simulator_or_export():
    out = run_python(
        """
        import sys
        import numpy as np
        import edge
        cfg = edge.PipelineConfig().with_changes(roi={"mode": "full"})
        edge.process_video(np.full((40, 32, 32, 3), 100, np.uint8), config=cfg, fps=30)
        print("firmware_sim" in sys.modules, "export" in sys.modules, "torch" in sys.modules)
        """
    )
    assert out.split() == ["False", "False", "False"]


def test_edge_sources_do_not_import_the_other_packages():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "edge"
    pattern = re.compile(r"^\s*(from|import)\s+(firmware_sim|export)\b", re.M)
    offenders = [p.name for p in root.rglob("*.py") if p.name != "cli.py"
                 and pattern.search(p.read_text()) and p.name != "cli_run.py"]
    assert offenders == []
