"""What a user meets on a wrong turn: exit 2, one line on stderr, never a traceback.

Every subcommand is walked with output paths in a missing folder and inside a file,
typos in choices, subcommands and device names, and missing optional packages (made
to fail to import by a ``sitecustomize`` in a subprocess). The checks must come before
the work: none of these cases needs a real video.
"""

import subprocess
import sys
import textwrap

import pytest

from edge.cli import main


@pytest.fixture
def bad_paths(tmp_path):
    """A path in a missing folder, and one whose 'folder' is a file."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {"missing": tmp_path / "no" / "such", "in_a_file": afile}


def _one_line_exit_2(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exit (through `Parser.error`)
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


FILE_FLAGS = [
    (["run", "clip.avi", "--csv"], "r.csv"),
    (["run", "clip.avi", "--png"], "r.png"),
    (["simulate", "clip.avi", "--device", "pi4", "--json"], "r.json"),
    (["simulate", "clip.avi", "--device", "pi4", "--md"], "r.md"),
    (["simulate", "clip.avi", "--device", "pi4", "--png"], "r.png"),
    (["eval", "dataset", "--format", "generic", "--json"], "r.json"),
    (["eval", "dataset", "--format", "generic", "--md"], "r.md"),
    (["eval", "dataset", "--format", "generic", "--png"], "r.png"),
    (["calibrate", "spo2", "v.avi:o.csv", "--out"], "c.json"),
    (["calibrate", "device", "--base", "pi4", "--out"], "p.toml"),
    (["synth"], "s.avi"),
]


@pytest.mark.parametrize(("argv", "name"), FILE_FLAGS, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else v)
@pytest.mark.parametrize("kind", ["missing", "in_a_file"])
def test_unwritable_output_files_fail_before_the_work(argv, name, kind, bad_paths, capsys):
    bad = bad_paths[kind] / name
    line = _one_line_exit_2([*argv, bad], capsys)
    assert str(bad) in line
    assert ("does not exist" if kind == "missing" else "is not a folder") in line


def test_output_file_that_is_a_folder(tmp_path, capsys):
    line = _one_line_exit_2(["run", "clip.avi", "--csv", tmp_path], capsys)
    assert "is a folder" in line


@pytest.mark.parametrize("argv", [["warmup", "--cache-dir"]])
def test_output_folder_inside_a_file(argv, bad_paths, capsys):
    line = _one_line_exit_2([*argv, bad_paths["in_a_file"] / "cache"], capsys)
    assert "is not a folder" in line


@pytest.mark.parametrize(("argv", "hint"), [
    (["run", "clip.avi", "--method", "chrm"], "did you mean 'chrom'?"),
    (["run", "clip.avi", "--roi", "fce"], "did you mean 'face'?"),
    (["simulat", "clip.avi"], "did you mean 'simulate'?"),
    (["rnu", "clip.avi"], "did you mean 'run'?"),
    (["calibrate", "spo", "v.avi:o.csv", "--out", "c.json"], "did you mean 'spo2'?"),
    (["simulate", "clip.avi", "--device", "pi3"], "did you mean 'pi3bplus'?"),
    (["simulate", "clip.avi", "--mode", "wal"], "did you mean 'wall'?"),
    (["synth", "s.avi", "--motion", "stil"], "did you mean 'still'?"),
    (["eval", "dataset", "--format", "ubcf"], "did you mean 'ubfc'?"),
    (["run", "clip.avi", "--jsn"], "did you mean '--json'?"),
    (["simulate", "clip.avi", "--devcie", "pi4"], "did you mean '--device'?"),
])
def test_typos_get_a_suggestion(argv, hint, capsys):
    assert hint in _one_line_exit_2(argv, capsys)


def test_synth_says_which_containers_it_writes(tmp_path, capsys):
    line = _one_line_exit_2(["synth", tmp_path / "clip.mp4"], capsys)
    assert ".avi" in line and "clip.avi" in line


BLOCK = """\
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def _run_without(blocked, argv, tmp_path):
    """`edge-vitals ARGV` in a subprocess where the modules `blocked` do not import."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCK.format(blocked=set(blocked))))
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "edge", *map(str, argv)], capture_output=True,
                          text=True, timeout=120, check=False, env=env, cwd=tmp_path)


@pytest.mark.parametrize(("blocked", "argv", "hint"), [
    (["torch"], ["export"], "pip install torch==2.13.0, then pip install 'edge-vitals[export]'"),
    (["matplotlib"], ["run", "clip.avi", "--png", "p.png"], "pip install 'edge-vitals[plot]'"),
    (["matplotlib"], ["simulate", "clip.avi", "--png", "p.png"], "edge-vitals[plot]"),
    (["paho"], ["run", "--demo", "--mqtt", "localhost"], "edge-vitals[mqtt]"),
])
def test_missing_extras_name_the_install_command(blocked, argv, hint, tmp_path):
    res = _run_without(blocked, argv, tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert hint in res.stderr


def test_the_block_really_blocks(tmp_path):
    """The test above would prove nothing if the sitecustomize were not loaded."""
    res = _run_without(["json"], ["--version"], tmp_path)
    assert res.returncode != 0 and "json" in res.stderr


def test_good_output_paths_pass(tmp_path):
    from edge.cli.options import check_output_dir, check_output_file

    assert check_output_file(tmp_path / "r.json", flag="--json") == tmp_path / "r.json"
    assert check_output_dir(tmp_path / "new" / "sub", flag="--out") == tmp_path / "new" / "sub"
    assert not (tmp_path / "new").exists()  # checking makes nothing
