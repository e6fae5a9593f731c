"""Import hygiene: `import edge` stays light and changes nothing global; edge names no other
package of ours, and no package uses another's private names."""

import ast
import pathlib
import re
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("edge", "firmware_sim", "export")


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


# the simulator's name anywhere; the export package imported, run or named as a module path
OTHER_PACKAGES = re.compile(r"firmware_sim|\b(from|import)\s+export\b|-m\s+export\b"
                            r"|\bexport[./][A-Za-z_]")


def test_edge_does_not_name_the_other_packages():
    """Not even in a docstring or a string: what lives outside edge registers itself."""
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sorted((ROOT / "edge").rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if OTHER_PACKAGES.search(line)]
    assert offenders == [], "\n".join(offenders)


def test_the_name_check_catches_each_form():
    named = ["from firmware_sim.world import make_clip", "import export.cli", "python -m export",
             "see `export.formats`", "export/README.md", "from export import formats"]
    fine = ["edge-vitals export --model all", "the CNN export.", "exported models"]
    assert all(OTHER_PACKAGES.search(text) for text in named)
    assert not any(OTHER_PACKAGES.search(text) for text in fine)


def private_uses(path, package):
    """``(line, name)`` of every private name of another package that `path` imports or
    reads through a module it imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    foreign, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in PACKAGES and node.module.split(".")[0] != package:
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append((node.lineno, f"{node.module}.{alias.name}"))
                    foreign.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in PACKAGES and root != package:
                    foreign.add(alias.asname or root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in foreign:
                found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_no_package_uses_another_packages_private_names():
    offenders = [f"{path.relative_to(ROOT)}:{line}: {name}"
                 for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                 for line, name in private_uses(path, package)]
    assert offenders == [], "\n".join(offenders)


def test_the_private_name_check_catches_each_form(tmp_path):
    code = ("from edge.kernels import _roi_sums\nfrom edge import kernels\n"
            "import edge.pipeline as pipeline\nkernels._std(1)\npipeline._hrv_of\n"
            "from firmware_sim import _own\nfrom edge.roi import RoiSampler\n")
    path = tmp_path / "x.py"
    path.write_text(code)
    assert [line for line, _ in private_uses(path, "firmware_sim")] == [1, 4, 5]
