"""The docs run: every ```python block of every docs/*.md page and of the README is executed, in order, in
one namespace per page, in a temporary working folder; every `chainrule ...` command
shown in a ```bash block must parse; every public name is in the API reference.

A block whose info string is ``python no-run`` is shown but not executed: the page says
why (a download, say). Shell blocks are never run, only parsed.
"""

import re
import shlex
from pathlib import Path

import pytest

import chainrule
from chainrule.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]  # the docs, and the README's own examples
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(page, language):
    """The (line number, code) of every fenced block of ``page`` whose info string is
    exactly ``language`` (so "python no-run" is not "python")."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2))
            for m in FENCE.finditer(text) if m.group(1).strip() == language]


LAUNCHERS = ("mpiexec", "mpirun", "srun")  # `mpiexec -n 2 chainrule train ...` is checked too


def shell_commands(code):
    """The `chainrule ...` commands of a shell block (also when started by mpiexec, mpirun or
    srun), with continuation lines joined and comments dropped, as argument lists."""
    joined = re.sub(r"\\\n", " ", code)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in LAUNCHERS and "chainrule" in words:
            words = words[words.index("chainrule"):]
        if words and words[0] == "chainrule":
            commands.append(words[1:])
    return commands


def test_there_are_pages():
    names = {p.name for p in PAGES}
    assert {"README.md", "tutorial.md", "api.md", "explain.md", "howto-cli.md",
            "howto-estimators.md", "howto-report.md"} <= names


def page_id(page):
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=page_id)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks(page, "python"):
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"the code block at {page.name} line {line} raised {exc!r}") from exc


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "bash")], ids=page_id)
def test_shell_commands_parse(page):
    parser = build_parser()
    for line, code in blocks(page, "bash"):
        for argv in shell_commands(code):
            try:
                parser.parse_args(argv)
            except BaseException as exc:  # argparse exits on --help; _Parser raises on errors
                raise AssertionError(f"{page.name} line {line}: chainrule {shlex.join(argv)} "
                                     f"does not parse: {exc}") from None


def test_no_run_blocks_say_why():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1).strip() == "python no-run":
                before = text[max(0, m.start() - 400):m.start()]
                assert "not run" in before, f"{page.name}: a no-run block without a reason before it"


def test_api_reference_names_every_public_name():
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [name for name in chainrule.__all__ if not re.search(rf"\b{re.escape(name)}\b", api)]
    assert not missing, f"docs/api.md does not mention {missing}"


def test_pages_link_to_pages_that_exist():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} links to missing {target}"
