"""A plugin author's first run, exactly as README.md's "Using it in a plugin's repository" says.

The test reads that section's fenced blocks tagged with a ``<!-- first-run: ... -->``
comment, builds the repository they describe in a temporary directory with a small
plugin copied in (tests/data/first_run_plugin), and runs each command of the
``commands`` block in a subprocess, so the README cannot drift from what works.
``pip install`` is not run (no network): the commands use the environment this
suite runs in, whose interpreter's directory is put first on PATH, so ``pytest``
and ``python`` are the ones that have this checkout installed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from nexus_testkit.contract._checks import CHECKS

from ._helpers import REPO, needs_platform

SECTION = "## Using it in a plugin's repository"
TAGGED_BLOCK = re.compile(r"<!-- first-run: (?P<tag>[^>]*?) -->\n```\w*\n(?P<body>.*?)```", re.S)
PLUGIN = Path(__file__).parent / "data" / "first_run_plugin"

#: The line each command's output must end with (fnmatch).  A command the README
#: gains or changes has no entry here, and the test says so.
OUTCOMES = {
    "pytest plugins/my_plugin/tests": "=* 2 passed in *",
    "pytest --nexus-plugin=plugins/my_plugin": f"=* {len(CHECKS) + 2} passed in *",
    "python -m nexus_testkit check plugins/*": (
        f"my_plugin (plugins/my_plugin): {len(CHECKS)} passed, 0 failed, 0 warnings, 0 skipped in *"
    ),
}


def first_run_blocks() -> list[tuple[str, str]]:
    """(tag, body) of each tagged block of the README's plugin-repository section."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start : end if end != -1 else None]
    return [(m["tag"], m["body"]) for m in TAGGED_BLOCK.finditer(section)]


def block(tag: str) -> str:
    bodies = [body for t, body in first_run_blocks() if t == tag]
    assert len(bodies) == 1, f"README.md needs exactly one `<!-- first-run: {tag} -->` block"
    return bodies[0]


def command_lines(text: str) -> list[str]:
    """The commands of a shell block, comments dropped."""
    lines = (line.partition("#")[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def layout_paths(tree: str) -> list[str]:
    """The paths of the layout block: two spaces of indent per level, ``dir/`` for a directory."""
    parents: list[str] = []
    paths = []
    for line in tree.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        del parents[depth:]
        paths.append("/".join([*parents, name.rstrip("/")]))
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
    return paths


def distribution_name() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]


def test_the_install_line_names_this_distribution_and_the_platform_pin() -> None:
    installs = [line for line in command_lines(block("commands")) if line.startswith("pip ")]
    assert installs == [f"pip install {distribution_name()} nexus-platform==0.1.5"]


def test_ci_runs_the_readme_commands() -> None:
    runs = [
        line.strip().removeprefix("- run:").strip()
        for line in block("ci").splitlines()
        if line.strip().startswith("- run:")
    ]
    assert runs, "the CI block runs nothing"
    assert set(runs) <= set(command_lines(block("commands"))), runs


@needs_platform  # the README installs nexus-platform, and the plugin imports it
def test_a_plugin_repository_set_up_as_the_readme_says(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "plugins" / "my_plugin").mkdir(parents=True)
    for name in ("manifest.json", "plugin.py"):
        shutil.copy(PLUGIN / name, repo / "plugins" / "my_plugin" / name)
    files = [(t.removeprefix("file "), b) for t, b in first_run_blocks() if t.startswith("file ")]
    assert files, "the README's section shows no file to write"
    for path, body in files:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(body)
    missing = [p for p in layout_paths(block("layout")) if not (repo / p).exists()]
    assert not missing, f"the README's layout names files no block or plugin provides: {missing}"

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    commands = [line for line in command_lines(block("commands")) if not line.startswith("pip ")]
    unknown = [line for line in commands if line not in OUTCOMES]
    assert not unknown, f"README commands with no expected outcome in {__file__}: {unknown}"
    # Started at once: each is a fresh interpreter importing the platform.
    runs = {
        line: subprocess.Popen(
            line,
            shell=True,
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in commands
    }
    for line, process in runs.items():
        output, _ = process.communicate(timeout=180)
        last = output.rstrip().splitlines()[-1] if output.strip() else ""
        assert fnmatch.fnmatch(last, OUTCOMES[line]), f"$ {line}\n{output}"
        assert process.returncode == 0, f"$ {line}\n{output}"
