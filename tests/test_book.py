"""The book as a product: chapter parameters, the nbval notebooks, and the HTML report.

nbval itself re-executes ``tests/notebooks/NN_<chapter>.ipynb`` (the smoke-mode runs made by
``python -m objprop.book smoke-notebooks``) as part of ``make test`` and compares the cells
tagged ``# NBVAL_CHECK_OUTPUT``; these tests check what nbval cannot: that every chapter has
such a notebook, that papermill's parameters reach each chapter, and that jupyter-book renders
the executed chapters into pages with their tables and figures (in headless Chromium).
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from objprop import paper, roles
from objprop.book import (CHAPTERS, STATIC_PAGES, chapter_parameters, copy_static_pages,
                          repo_root)

NOTEBOOKS = repo_root() / "tests" / "notebooks"


def _declared(name):
    import jupytext
    nb = jupytext.read(repo_root() / "book" / f"{name}.md")
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{name}.md needs exactly one tagged parameters cell"
    names = set()
    for line in cells[0].source.splitlines():
        m = re.match(r"^([A-Za-z_]\w*)\s*=", line)
        if m:
            names.add(m.group(1))
    return names


# What a chapter's prose may spell in digits: names (data sets, backbones, the paper's tables,
# figures and sections, the book's own step labels) and definitions that no run or config
# changes (the oracle's score of one, the 100 mAP ceiling, the official metric's thresholds).
# Anything else (a result, a setting) is glued from results/*.json, a config or
# objprop.paper.
PROSE_ALLOWED = [r"YouTube-VIS 20\d\d", r"MLSys 20\d\d", r"ResNet-\d+", r"R\d+-FPN", r"mmdet 2\.x",
                 r"Tables? \d( and \d)?", r"Figures? \d( and \d)?", r"Sec\. \d(\.\d)?",
                 r"Eq\. \d", r"\*\*Step \d", r"^\s*\d+\. ", r"\bt-1\b", r"\bmp4\b", r"\bIDF1\b",
                 r"\d+th\b", r"\bscore 1\b", r"\b100 mAP\b", r"\(1 is ideal",
                 r"AP over 10 IoU thresholds, AR for 1 and 10 tracks"]


def typed_numbers(markdown):
    """The lines of a chapter's prose that spell a number that is not allowed above."""
    text = re.sub(r"\{glue:\w+\}`[^`]*`", "", markdown)  # glued from a run or config
    text = re.sub(r"`[^`]*`", "", text)                   # code, paths, commands
    text = re.sub(r"\]\([^)]*\)", "]", text)              # link targets
    lines = []
    for line in text.splitlines():
        for pattern in PROSE_ALLOWED:
            line = re.sub(pattern, "", line)
        if re.search(r"\d", line):
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_prose_types_no_numbers(name):
    import jupytext
    nb = jupytext.read(repo_root() / "book" / f"{name}.md")
    typed = [line for c in nb.cells if c.cell_type == "markdown"
             for line in typed_numbers(c.source)]
    assert not typed, f"book/{name}.md types numbers in its prose: {typed}"


def test_prose_check_finds_a_typed_number():
    assert typed_numbers("The paper reports 36.0 mAP.") == ["The paper reports 36.0 mAP."]
    assert typed_numbers("It reports {glue:text}`ap:.1f` mAP on YouTube-VIS 2019.") == []


def test_departures_quote_the_book_settings_as_the_sources_hold_them():
    """The static departures page cannot glue: each ``key=value`` its book column quotes must
    stand in a config or the library as written, so a changed setting fails here."""
    root = repo_root()
    sources = [f.read_text() for d in ("configs", "objprop") for f in (root / d).rglob("*.py")]
    source = re.sub(r"\s+", "", " ".join(sources))
    quoted = []
    for line in (root / "book" / "departures.md").read_text().splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            book_column = line.rstrip().rstrip("|").split("|")[-1]
            for item in re.findall(r"`([A-Za-z_][\w.]*=[^`]+)`", book_column):
                quoted += re.findall(r"(\w+)=('[^']*'|\([^()]*\)|\[[^\]]*\]|[^,()\[\]\s]+)",
                                     item)
    assert len(quoted) > 30  # the page's tables were read
    missing = [f"{k}={v}" for k, v in quoted if re.sub(r"\s+", "", f"{k}={v}") not in source]
    assert not missing, f"book/departures.md quotes settings no source holds: {missing}"


@pytest.mark.parametrize("smoke", [False, True])
def test_every_parameter_the_book_passes_is_declared(smoke):
    for name, params in chapter_parameters(smoke=smoke).items():
        missing = set(params) - _declared(name)
        assert not missing, f"book/{name}.md does not declare {missing}"


def test_each_chapter_has_an_nbval_notebook():
    have = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert have == [f"{i:02d}_{n}.ipynb" for i, n in enumerate(CHAPTERS, 1)]
    import nbformat
    for p in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        checked = [c for c in nb.cells if c.cell_type == "code"
                   and "NBVAL_CHECK_OUTPUT" in c.source]
        assert checked, f"{p.name}: no cell tagged NBVAL_CHECK_OUTPUT: nbval compares nothing"
        for c in checked:
            assert c.outputs, f"{p.name}: a checked cell has no stored output to compare"


def test_nbval_notebooks_hold_the_current_chapter_code():
    """nbval re-runs the committed notebooks, not the MyST sources: a chapter edited since
    its notebook was made would go untested. Regenerate with
    ``python -m objprop.book smoke-notebooks``."""
    import jupytext
    import nbformat
    for i, name in enumerate(CHAPTERS, 1):
        src = jupytext.read(repo_root() / "book" / f"{name}.md")
        nb = nbformat.read(NOTEBOOKS / f"{i:02d}_{name}.ipynb", as_version=4)
        want = [c.source for c in src.cells if c.cell_type == "code"]
        have = [c.source for c in nb.cells if c.cell_type == "code"
                and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
        assert have == want, f"tests/notebooks/{i:02d}_{name}.ipynb is stale"


def _chromium():
    for exe in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(exe):
            return shutil.which(exe)
    pytest.fail("headless Chromium is missing: `make setup` installs Debian's chromium")


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """jupyter-book builds the committed smoke notebooks with the repo's _toc/_config."""
    root = tmp_path_factory.mktemp("book")
    for f in ("_toc.yml", "_config.yml"):
        shutil.copy(repo_root() / f, root / f)
    executed = root / "book" / "_executed"
    executed.mkdir(parents=True)
    for i, name in enumerate(CHAPTERS, 1):
        shutil.copy(NOTEBOOKS / f"{i:02d}_{name}.ipynb", executed / f"{name}.ipynb")
    copy_static_pages(executed)
    jb = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run([str(jb), "build", ".", "--path-output", "."], cwd=root,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    glue_warnings = [line for line in (run.stdout + run.stderr).splitlines()
                     if "WARNING" in line and "glue" in line]
    assert not glue_warnings, glue_warnings  # every {glue:text} in the prose found its value
    return root / "_build" / "html"


def _dom(page):
    run = subprocess.run([_chromium(), *CHROME_FLAGS, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-1000:]
    return run.stdout


def test_html_report_renders_tables_and_figures(built_book, tmp_path):
    html = built_book
    assert (html / "index.html").is_file()
    pages = {n: html / "book" / "_executed" / f"{n}.html" for n in CHAPTERS}
    for name, page in pages.items():
        assert page.is_file(), f"no page for {name}"
    expect = {"oracle": ("<table", "<img"), "evaluation": ("<table", "<img"),
              "data": ("<img",), "qualitative": ("<img",), "stability": ("<table", "<img"),
              "train": ("<img",), "propagation": ("<table", "<img"),
              "claims": ("<table", "reproduced")}
    for name, needles in expect.items():
        dom = _dom(pages[name])
        for needle in needles:
            assert needle in dom, f"{name}.html renders no {needle}"
        # a rendered image must carry data (jupyter-book writes PNGs beside the page)
        for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', dom):
            target = (pages[name].parent / src).resolve()
            assert target.is_file() and target.stat().st_size > 2000, src
    assert "36.0" in _dom(pages["evaluation"])  # the paper's row is quoted beside ours
    # the prose's numbers are pasted in by glue, from objprop.paper and the run
    texts = {name: re.sub(r"<[^>]+>", "", _dom(page)) for name, page in pages.items()}
    assert not [n for n, text in texts.items() if "glue:text" in text]
    ytvis = paper.DATASETS["YouTube-VIS 2019"]
    assert f"{ytvis['train_videos']:,d} training videos" in texts["data"]
    assert f"{paper.ap('ObjProp'):.1f} mAP" in texts["intro"]
    # papermill's injected parameters are collapsed; the page offers its notebook
    train = _dom(pages["train"])
    assert re.search(r'class="[^"]*tag_injected-parameters[^"]*tag_hide-cell', train)
    assert re.search(r'href="[^"]*train\.ipynb"', train)
    assert "claims.html" in _dom(html / "book" / "_executed" / "intro.html")  # linked
    for name in STATIC_PAGES:  # reference pages: rendered from MyST, with their tables
        static = html / "book" / "_executed" / f"{name}.html"
        assert static.is_file() and "<table" in _dom(static), f"no page for {name}"
    shot = tmp_path / "evaluation.png"
    subprocess.run([_chromium(), *CHROME_FLAGS, f"--screenshot={shot}",
                    "--window-size=1200,1600", pages["evaluation"].as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10000


def _image_sizes(page, width):
    """Each image of a built page as Chromium lays it out at a window ``width`` px wide:
    (file, natural width, shown width). A copy of the page beside it (same folder, so its
    images and styles resolve) writes the sizes into the DOM once the page has loaded."""
    probe = page.with_name(page.stem + "_probe.html")
    script = ("<script>window.addEventListener('load', () => document.body.setAttribute("
              "'data-images', [...document.images].map(i => [i.getAttribute('src'), "
              "i.naturalWidth, i.getBoundingClientRect().width].join(',')).join(';')));"
              "</script>")
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    run = subprocess.run([_chromium(), *CHROME_FLAGS, f"--window-size={width},1600",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    probe.unlink()
    found = re.search(r'data-images="([^"]*)"', run.stdout)
    assert found, run.stderr[-1000:]
    return [(src, int(nat), float(shown)) for src, nat, shown in
            (item.rsplit(",", 2) for item in found.group(1).split(";") if item)]


def _smallest_text_pt(fig):
    """The smallest font size of any visible text in a figure (tick labels included)."""
    fig.canvas.draw()
    return min(t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
               if t.get_visible() and t.get_text().strip())


def test_forest_plot_labels_are_readable_at_the_books_width(built_book, tmp_path):
    """The claims page's forest plot, laid out by headless Chromium at 1400 px (and a
    laptop's 1100): its smallest text, scaled as the page shows the figure, is at least
    9 pt (12 CSS px). A screenshot of the page is kept for a look."""
    import matplotlib
    matplotlib.use("Agg")
    from objprop.present import claims
    from tests.test_claims import run, write
    rows = claims.assess(write(tmp_path / "results", [
        run(role, s, 0.4 + s / 100, hard_recall=0.3 + s / 50) for s in range(3)
        for role in (roles.BASELINE, roles.OBJPROP, roles.OBJPROP_NO_FILL)],
        ratios=[1.1, 1.2, 1.15]))
    smallest_pt = _smallest_text_pt(claims.plot_forest(rows))
    page = built_book / "book" / "_executed" / "claims.html"
    for width in (1400, 1100):
        figures = [(src, nat, shown) for src, nat, shown in _image_sizes(page, width)
                   if src.endswith(".png") and "logo" not in src]
        assert len(figures) == 1, figures   # the forest plot, one figure for every claim
        src, natural, shown = figures[0]
        # the notebook's PNG holds the figure at its own dpi, the page scales it to fit
        smallest_px = smallest_pt / 72 * claims.FOREST_DPI * shown / natural
        assert smallest_px >= 12, (width, smallest_pt, natural, shown)
    # the page's figure as plot_forest drew it (the smoke notebooks keep its size)
    assert natural >= 0.9 * claims.FOREST_WIDTH_IN * claims.FOREST_DPI
    shot = tmp_path / "claims.png"
    subprocess.run([_chromium(), *CHROME_FLAGS, f"--screenshot={shot}",
                    "--window-size=1400,2400", page.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10000
