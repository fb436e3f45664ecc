"""The repository stands on its own: nothing in it points at files outside it, and every
section of docs/ that the code cites exists.

A clone is all a contributor has. A comment that sends them to a document only one machine has,
or to a section that was renumbered away, explains nothing.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = PurePosixPath("tests/test_repository.py")  # it has to spell out what it forbids
# Codat's own documents, copied unchanged: their text is Codat's, not ours to edit.
COPIED_DOCUMENTS = PurePosixPath("tests/contracts/codat")

# A machine's own path, or a pointer to the `shared` folder that used to sit beside the
# repository. (`static/shared/…` inside the repository would be fine: hence the look-behind.)
# Assembled from parts, so that this file does not itself match the check that every developer's
# before-stop hook runs over the repository.
_SHARED = "sha" + "red"
OUTSIDE_POINTERS = re.compile("/wo" + r"rk/|\.\./" + _SHARED + r"\b|(?<![\w/.-])" + _SHARED + "/")
# `docs/codat.md §6`, `docs/codat.md §1–§7`, `docs/codat.md §6.2, §8`.
SECTION_CITATION = re.compile(
    r"docs/(?P<file>[\w-]+\.md)(?P<sections>(?:(?:\s*[,–-]\s*|\s+and\s+|\s+)§\d+(?:\.\d+)?)+)"
)
SECTION_NUMBER = re.compile(r"§(\d+(?:\.\d+)?)")
# `## 6. Data …` and `### 6.2 Sync settings`: the one heading style docs/ uses for sections.
NUMBERED_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)
# `docs/promises.md X2, X5`, `docs/promises.md, L1 and L2`, `docs/promises.md W1–W3`.
PROMISE_CITATION = re.compile(
    r"docs/promises\.md,?(?P<codes>(?:(?:\s*[,–-]\s*|\s+and\s+|\s+)[A-Z]\d+\b)+)"
)
PROMISE_CODE = re.compile(r"\b[A-Z]\d+\b")
MARKDOWN_NAME = re.compile(r"[\w.-]+\.md\b")


@cache
def tracked_files() -> tuple[PurePosixPath, ...]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout, so there is no list of tracked files: {exc}")
    return tuple(PurePosixPath(name) for name in listing.decode().split("\0") if name)


@cache
def tracked_texts() -> dict[PurePosixPath, str]:
    """Every tracked text file of ours (not binary, not Codat's copied documents)."""
    texts = {}
    for path in tracked_files():
        if path == THIS_FILE or COPIED_DOCUMENTS in path.parents:
            continue
        data = (ROOT / path).read_bytes()
        if b"\0" in data:
            continue
        texts[path] = data.decode("utf-8", errors="replace")
    return texts


def _where(path: PurePosixPath, text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{path}:{line}: {text.splitlines()[line - 1].strip()[:120]}"


def numbered_sections(document: str) -> set[str]:
    return set(NUMBERED_HEADING.findall((ROOT / "docs" / document).read_text(encoding="utf-8")))


def test_no_tracked_file_points_outside_the_repository():
    found = [
        _where(path, text, match.start())
        for path, text in tracked_texts().items()
        for match in OUTSIDE_POINTERS.finditer(text)
    ]

    assert found == [], "These lines point outside the repository:\n" + "\n".join(found)


def test_every_markdown_document_named_is_in_the_repository():
    # Catches `reliability.md X2`, `API.md §6` and the like: documents a clone does not have.
    have = {path.name for path in tracked_files()}
    found = [
        _where(path, text, match.start())
        for path, text in tracked_texts().items()
        for match in MARKDOWN_NAME.finditer(text)
        if match.group() not in have
    ]

    assert found == [], "These lines name documents the repository lacks:\n" + "\n".join(found)


def test_every_docs_section_cited_exists():
    found = []
    for path, text in tracked_texts().items():
        for match in SECTION_CITATION.finditer(text):
            document = match.group("file")
            if not (ROOT / "docs" / document).is_file():
                found.append(f"{_where(path, text, match.start())}  (no docs/{document})")
                continue
            missing = set(SECTION_NUMBER.findall(match.group("sections"))) - numbered_sections(
                document
            )
            if missing:
                found.append(
                    f"{_where(path, text, match.start())}  (no §{', §'.join(sorted(missing))} "
                    f"in docs/{document})"
                )

    assert found == [], "These lines cite sections that do not exist:\n" + "\n".join(found)


def test_every_section_a_document_cites_in_itself_exists():
    # Inside docs/codat.md, `(§7)` means its own section 7.
    found = []
    for path, text in tracked_texts().items():
        if path.parent != PurePosixPath("docs") or path.suffix != ".md":
            continue
        own = numbered_sections(path.name)
        bare = SECTION_CITATION.sub(lambda match: " " * len(match.group()), text)
        for match in SECTION_NUMBER.finditer(bare):
            if match.group(1) not in own:
                found.append(_where(path, text, match.start()))

    assert found == [], "These lines cite sections their own document lacks:\n" + "\n".join(found)


def test_every_promise_code_cited_with_its_document_exists():
    promises = (ROOT / "docs" / "promises.md").read_text(encoding="utf-8")
    defined = set(re.findall(r"^\| ([A-Z]\d+) \|", promises, re.MULTILINE))
    found = [
        f"{_where(path, text, match.start())}  (no {code} in docs/promises.md)"
        for path, text in tracked_texts().items()
        for match in PROMISE_CITATION.finditer(text)
        for code in PROMISE_CODE.findall(match.group("codes"))
        if code not in defined
    ]

    assert found == [], "These lines cite promises that do not exist:\n" + "\n".join(found)


# A conftest.py holds fixtures; what tests import (values, builders, helpers) lives in a module
# of its own (steps.py, personas.py), so that no test depends on another folder's fixtures file.
CONFTEST_IMPORT = re.compile(r"^\s*from\s+(?:tests(?:\.\w+)*)?\.?conftest\s+import", re.MULTILINE)


def test_no_test_module_imports_from_a_conftest():
    found = [
        _where(path, text, match.start())
        for path, text in tracked_texts().items()
        if path.suffix == ".py" and path.name != "conftest.py"
        for match in CONFTEST_IMPORT.finditer(text)
    ]

    assert found == [], "These import from a conftest.py:\n" + "\n".join(found)


def test_the_checks_recognise_what_they_look_for():
    # The patterns themselves, so that a loosened regex cannot make the tests above pass vacuously.
    assert OUTSIDE_POINTERS.search(f"see /wo{'rk'}/{_SHARED}/codat/API.md")
    assert OUTSIDE_POINTERS.search(f"({_SHARED}/reliability.md)")
    assert OUTSIDE_POINTERS.search(f'Path(BASE_DIR) / "../{_SHARED}"')
    assert not OUTSIDE_POINTERS.search("static/shared/app.css, a shared cache")
    citation = SECTION_CITATION.search("API (docs/codat.md §1–§7), so")
    assert citation and SECTION_NUMBER.findall(citation.group("sections")) == ["1", "7"]
    assert NUMBERED_HEADING.findall("## 6. Data\n### 6.2 Sync settings\n## Notes\n") == [
        "6",
        "6.2",
    ]
    codes = PROMISE_CITATION.search("(docs/promises.md, L1 and L2)")
    assert codes and PROMISE_CODE.findall(codes.group("codes")) == ["L1", "L2"]
    assert numbered_sections("codat.md") >= {str(n) for n in range(1, 10)}
    assert CONFTEST_IMPORT.search("from tests.webhooks.conftest import SECRET")
    assert CONFTEST_IMPORT.search("    from .conftest import sync_settings")
    assert not CONFTEST_IMPORT.search("from tests.webhooks.steps import SECRET")
