"""The documentation stands alone: every markdown link, every heading or file it cites, and every
README heading or docs/ page a docstring or comment cites, exists inside the repository; nothing
points at a design document outside it."""

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
# A repository path cited in backticks: its first part must be one of the committed roots, and
# it holds no placeholder (<name>, *, {a,b}).
COMMITTED_ROOTS = {".ci", "Snakefile", "baselines", "benchmarks", "config", "docs", "examples", "irsde", "profiles",
                   "pyproject.toml", "tests", "workflow", "LICENSE", "CITATION.cff", "results/published",
                   "results/reference", "resources/README.md"}
PATH_TOKEN = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")
README_CITATION = re.compile(r"""README(?:'s)?[,:]?\s+(?:section\s+)?["']([^"'\n]+)["']""")
DOCS_CITATION = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]+)?")
CODE_SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".rst", ".toml", ".cff", ".json", ".sh", ""}
# Built from parts, so that this file does not cite what it forbids.
FORBIDDEN = ("DESIGN" + " §", "../" + "shared", "/work/" + "shared", "shared/" + "reference", "DESIGN" + ".md")


@cache
def repository_files() -> tuple[str, ...]:
    """Every file of a fresh clone of this checkout: tracked, and new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True)
    assert listed.returncode == 0, f"git ls-files failed (the docs check needs a git checkout): {listed.stderr}"
    return tuple(name for name in listed.stdout.splitlines() if (REPO / name).is_file())


def markdown_files() -> list[str]:
    return [name for name in repository_files() if name.endswith(".md")]


def prose_lines(path: Path, text: str | None = None) -> list[str]:
    """The lines of a markdown file (or of ``text``, its content) outside fenced code blocks."""
    lines, fenced = [], False
    for line in (path.read_text() if text is None else text).splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = INLINE_CODE.sub(r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def headings(path: Path) -> tuple[str, ...]:
    return tuple(match.group(2) for line in prose_lines(path) if (match := HEADING.match(line)))


def exists_in_repository(target: Path) -> bool:
    """A file of the repository, or a folder holding one."""
    relative = target.resolve().relative_to(REPO.resolve()).as_posix()
    files = repository_files()
    return relative in files or any(name.startswith(relative.rstrip("/") + "/") for name in files)


def link_problems(name: str, text: str | None = None) -> list[str]:
    path = REPO / name
    problems = []
    for line in prose_lines(path, text):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part) if file_part else path
            try:
                found = exists_in_repository(linked)
            except ValueError:
                found = False
            if not found:
                problems.append(f"{name}: link to {target}: no such file in the repository")
            elif anchor and linked.suffix == ".md" and anchor not in {slug(h) for h in headings(linked)}:
                problems.append(f"{name}: link to {target}: {linked.name} has no heading with anchor #{anchor}")
    return problems


def cited_file_problems(name: str, text: str | None = None) -> list[str]:
    problems = []
    for line in prose_lines(REPO / name, text):
        for token in INLINE_CODE.findall(line):
            token = token.strip()
            if not PATH_TOKEN.match(token) or "/" not in token and token not in COMMITTED_ROOTS:
                continue
            if not any(token == root or token.startswith(root + "/") for root in COMMITTED_ROOTS):
                continue
            if not exists_in_repository(REPO / token):
                problems.append(f"{name}: cites `{token}`, which is not in the repository")
    return problems


def test_slugs_are_githubs():
    assert slug("Fast sampling: 10 network evaluations instead of 100") == "fast-sampling-10-network-evaluations-instead-of-100"
    assert slug("Measured on this project's 2-core CPU machine (no GPU)") == "measured-on-this-projects-2-core-cpu-machine-no-gpu"
    assert slug("The `irsde` library") == "the-irsde-library"


def test_the_checks_find_a_dead_link_a_missing_anchor_and_a_missing_file():
    page = "docs/pipeline.md"
    broken = (REPO / page).read_text() + "\n[gone](nowhere.md) [anchor](sde.md#no-such-heading) `irsde/nowhere.py`\n"
    assert link_problems(page) == [] and cited_file_problems(page) == []
    problems = link_problems(page, broken) + cited_file_problems(page, broken)
    assert any("nowhere.md: no such file" in p for p in problems), problems
    assert any("has no heading with anchor #no-such-heading" in p for p in problems), problems
    assert any("cites `irsde/nowhere.py`" in p for p in problems), problems


def test_every_markdown_link_resolves_inside_the_repository():
    names = markdown_files()
    assert {"README.md", "docs/README.md", "examples/README.md"} <= set(names)
    problems = [problem for name in names for problem in link_problems(name)]
    assert problems == []


def test_every_file_the_documentation_cites_exists():
    problems = [problem for name in markdown_files() for problem in cited_file_problems(name)]
    assert problems == []


@pytest.mark.parametrize("kind", ["README headings", "docs pages"])
def test_every_heading_or_page_cited_in_code_exists(kind):
    readme_headings = headings(REPO / "README.md")
    problems = []
    for name in repository_files():
        path = REPO / name
        if path.suffix not in CODE_SUFFIXES or name.startswith("tests/data/") or name == "tests/test_docs.py":
            continue
        text = " ".join(path.read_text(errors="ignore").split()).replace(" # ", " ")
        if kind == "README headings":
            for cited in README_CITATION.findall(text):
                if not any(heading.startswith(cited) for heading in readme_headings):
                    problems.append(f"{name}: cites README section {cited!r}, which the README does not have")
        else:
            for page, anchor in DOCS_CITATION.findall(text):
                target = REPO / "docs" / page
                if not target.is_file():
                    problems.append(f"{name}: cites docs/{page}, which does not exist")
                elif anchor and anchor[1:] not in {slug(h) for h in headings(target)}:
                    problems.append(f"{name}: cites docs/{page}{anchor}, which has no such heading")
    assert problems == []


def test_nothing_points_outside_the_repository_at_a_design_document():
    found = [f"{name}: {pattern!r}" for name in repository_files() if name != "tests/test_docs.py"
             for pattern in FORBIDDEN if pattern in (REPO / name).read_text(errors="ignore")]
    assert found == []
