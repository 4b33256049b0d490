"""Printed notices (issue 13): every kind, printed to PDF by headless Chromium and by WeasyPrint
(the pdf format), checked page by page.

For each kind the notices of ``print_support.PRINT_CASES`` are printed — lists of 1 and of 60
clusters, reasons of a few and of 10,000 characters — and each PDF must show: the signature over
the date on the page that holds the end of the body's last paragraph, the number "— N —" on
every page (odd pages right, even left; only a letter in 信函格式 leaves page 1 unnumbered) and
nothing else in the margins, each attachment on a new page, and no short table cell split.
Every notice is printed once per engine for the module; a missing Chromium, pdftotext or
WeasyPrint fails the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from print_support import (
    PRINT_CASES,
    World,
    build_world,
    chromium_print,
    document,
    page_problems,
    pdf_pages,
)

from gdcluster.notifications import KINDS, render_notice
from gdcluster.notifications.document import Document

ROOT = Path(__file__).resolve().parent.parent
README_PNG = Path(__file__).parent / "print" / "publicity-page1.png"
ENGINES = ("chromium", "weasyprint")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, World]]:
    built = {name: build_world(tmp_path_factory.mktemp(f"print-{name}"), clusters,
                               supplementary=name == "supplement")
             for name, clusters in (("long", 60), ("short", 1), ("supplement", 1))}
    yield built
    for world in built.values():
        world.engine.close()


@pytest.fixture(scope="module")
def printed(worlds: dict[str, World], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[tuple[str, str, str], tuple[Path, Document]]:
    """Every print case, printed once by each engine: (kind, variant, engine) → (PDF, notice)."""
    folder = tmp_path_factory.mktemp("printed")
    found: dict[tuple[str, str, str], tuple[Path, Document]] = {}
    jobs = []
    for kind, variants in PRINT_CASES.items():
        for variant, (world_name, wanted) in variants.items():
            world = worlds[world_name]
            target = world.target(wanted)
            doc = document(world, kind, target)
            stem = folder / f"{kind}-{variant}"
            html = render_notice(world.engine, kind, fmt="html", fresh=True,
                                 settings=world.settings, **target)
            stem.with_suffix(".html").write_bytes(html.body)
            pdf = render_notice(world.engine, kind, fmt="pdf", fresh=True,
                                settings=world.settings, **target)
            weasy = folder / f"{kind}-{variant}-weasyprint.pdf"
            weasy.write_bytes(pdf.body)
            found[(kind, variant, "weasyprint")] = (weasy, doc)
            chrome = folder / f"{kind}-{variant}-chromium.pdf"
            jobs.append((stem.with_suffix(".html"), chrome))
            found[(kind, variant, "chromium")] = (chrome, doc)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda job: chromium_print(*job), jobs))
    return found


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_page_of_every_kind_prints_as_the_office_would(
    printed: dict[tuple[str, str, str], tuple[Path, Document]], kind: str, engine: str
) -> None:
    """Each notice of the kind, printed to A4 by the engine: signature and date with the body's
    last lines, every page numbered "— N —" at its outside edge and nothing else in the
    margins, attachments on a new page, short table cells whole."""
    assert kind in PRINT_CASES, (f"no print cases for the notice kind {kind!r}: add its acts to "
                                 f"print_support.build_world and its notices to PRINT_CASES")
    problems = []
    for variant in PRINT_CASES[kind]:
        pdf, doc = printed[(kind, variant, engine)]
        pages = pdf_pages(pdf)
        problems += [f"{variant}: {problem}" for problem in page_problems(pages, doc)]
    assert not problems, "\n".join(problems)


def test_the_long_cases_really_are_long(
    printed: dict[tuple[str, str, str], tuple[Path, Document]]
) -> None:
    """The cases test what they say: the 60-cluster lists run over several pages, the
    10,000-character reasons over several pages, and the short lists fit one page."""
    for engine in ENGINES:
        for kind in ("publicity", "recognition"):
            long_pages = pdf_pages(printed[(kind, "60-clusters", engine)][0])
            short_pages = pdf_pages(printed[(kind, "1-cluster", engine)][0])
            assert len(long_pages) >= len(short_pages) + 3, (kind, engine)
            assert printed[(kind, "60-clusters", engine)][1].attachments[0].table is not None
        for kind in ("revocation", "return"):
            assert len(pdf_pages(printed[(kind, "10000-char-reason", engine)][0])) >= 5


def test_the_page_checks_catch_a_bad_layout(
    worlds: dict[str, World], tmp_path: Path
) -> None:
    """The checks can fail: the same notice printed by Chromium from HTML whose print rules are
    taken out (no margin boxes, no unbreakable signature block, auto table layout, a browser
    header and footer) is reported."""
    world = worlds["long"]
    target = world.target({"case_id": "revoked_long"})
    html = render_notice(world.engine, "revocation", fmt="html", fresh=True,
                         settings=world.settings, **target).text
    stripped = (html.replace("@bottom-right", "@x-bottom-right")
                .replace("@bottom-left", "@x-bottom-left").replace("@top-center", "@x-top")
                .replace("break-before: avoid", "break-before: auto")
                .replace("div.closing { break-inside: avoid; page-break-inside: avoid; }", ""))
    page = tmp_path / "bad.html"
    page.write_text(stripped, encoding="utf-8")
    chromium_print(page, tmp_path / "bad.pdf")
    problems = list(page_problems(pdf_pages(tmp_path / "bad.pdf"),
                                  document(world, "revocation", target)))
    assert any("margins hold" in problem for problem in problems), problems


def test_a_letter_in_letter_format_leaves_its_first_page_unnumbered(
    worlds: dict[str, World], tmp_path: Path
) -> None:
    """GB/T 9704 信函格式: a letter (it has an addressee) with a 函 number has no number on its
    first page and numbers the rest; every other notice is numbered from page 1."""
    from gdcluster.notifications.context import NoticeSpec, build_context
    from gdcluster.notifications.render import render

    world = worlds["long"]
    target = world.target({"case_id": "revoked_long"})
    with world.engine.store.read() as session:
        context = build_context(session, NoticeSpec("revocation", **target), world.settings)
    context["doc_no"] = "粤工信服务函〔2025〕7号"
    html, pdf = render("revocation", context, ["html", "pdf"])
    doc = document(world, "revocation", target)
    letter = Document(**{**doc.__dict__, "doc_no": context["doc_no"], "letter": True})
    (tmp_path / "letter.html").write_bytes(html.body)
    (tmp_path / "letter.pdf").write_bytes(pdf.body)
    chromium_print(tmp_path / "letter.html", tmp_path / "letter-chromium.pdf")
    for path in (tmp_path / "letter.pdf", tmp_path / "letter-chromium.pdf"):
        pages = pdf_pages(path)
        assert len(pages) >= 2
        assert not list(page_problems(pages, letter)), path.name
        assert list(page_problems(pages, doc)), "page 1 would have to be numbered otherwise"


def test_readme_shows_page_one_of_the_printed_publicity(
    printed: dict[tuple[str, str, str], tuple[Path, Document]], tmp_path: Path
) -> None:
    """README shows page 1 of the printed 公示 (the pdf format of the 1-cluster list), made
    with poppler's pdftoppm from the PDF printed here. Set GDCLUSTER_REGENERATE_PNG=1 to
    write it anew after a layout change."""
    pdf, _ = printed[("publicity", "1-cluster", "weasyprint")]
    tool = shutil.which("pdftoppm")
    assert tool is not None, "pdftoppm is missing: apt-get install poppler-utils"
    subprocess.run([tool, "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(tmp_path / "page1")], check=True, timeout=120)
    made = (tmp_path / "page1.png").read_bytes()
    if os.environ.get("GDCLUSTER_REGENERATE_PNG") == "1":
        README_PNG.parent.mkdir(parents=True, exist_ok=True)
        README_PNG.write_bytes(made)
    committed = README_PNG.read_bytes()
    assert committed[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_size(committed) == _png_size(made)  # A4 at 60 dpi: 496 × 702
    assert "tests/print/publicity-page1.png" in (ROOT / "README.md").read_text("utf-8")


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_print_cases_name_notices_that_exist(worlds: dict[str, World]) -> None:
    """Each print case is a notice that was issued (not only renderable): its act happened."""
    from gdcluster.notifications import list_notices

    for kind, variants in PRINT_CASES.items():
        for variant, (world_name, wanted) in variants.items():
            world = worlds[world_name]
            target: dict[str, Any] = world.target(wanted)
            rows = [row for row in list_notices(world.engine, **target) if row["kind"] == kind]
            assert rows, (kind, variant)
