"""The essay in every format: passages identical to the .txt ones, PDF reading speed, dev hit@1.

    python benchmarks/formats.py [--hit1] [--copies 20]

For the essay written out as Word (heading styles; plain bold numbered paragraphs),
PDF (STSong-Light, running header, page numbers) and a web page with site furniture
(the writers are the tests' ``tests/essay_formats.py``), prints: passages, the share
identical to the .txt essay's (heading path and text, whitespace aside, over the larger
count), the share with the same heading path in order, and reading + splitting time.
PDF time per page is measured on the essay repeated ``--copies`` times (no model).
``--hit1`` also runs the essay dev questions through ``qa.evaluate(..., corpus=[file])``
for each format with the real model (slow: an index per format).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
DEV = ROOT.parent / "shared" / "eval" / "essay_dev.jsonl"

from essay_formats import identity_share, write_docx, write_html, write_pdf  # noqa: E402

from qa.config import DEFAULT_CORPUS, Settings  # noqa: E402
from qa.corpus import load_corpus  # noqa: E402
from qa.passages import split_corpus  # noqa: E402


def _read_and_split(path: Path) -> tuple[list, float]:
    t0 = time.perf_counter()
    passages = split_corpus(load_corpus([path]))
    return passages, time.perf_counter() - t0


def _pages(path: Path) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    n = len(pdf)
    pdf.close()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hit1", action="store_true", help="also the essay dev hit@1 per format (real model, slow)")
    parser.add_argument("--copies", type=int, default=20, help="essay copies in the PDF timed per page")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {
            "txt (reference)": DEFAULT_CORPUS,
            "docx, heading styles": write_docx(folder / "essay_styles.docx"),
            "docx, plain bold numbered": write_docx(folder / "essay_plain.docx", styles=False),
            "pdf": write_pdf(folder / "essay.pdf"),
            "pdf, two columns": write_pdf(folder / "essay_2col.pdf", columns=2),
            "html": write_html(folder / "essay.html"),
        }
        reference = split_corpus(load_corpus())
        print(f"{'format':28} {'passages':>8} {'identical':>9} {'same paths':>10} {'read+split ms':>13}")
        for name, path in files.items():
            passages, _ = _read_and_split(path)  # warm (imports, fonts)
            ms = statistics.median(_read_and_split(path)[1] for _ in range(args.repeat)) * 1000
            paths = [p.heading_path for p in passages] == [p.heading_path for p in reference]
            print(f"{name:28} {len(passages):8d} {identity_share(reference, passages):9.1%} "
                  f"{'yes' if paths else 'no':>10} {ms:13.1f}")

        big = write_pdf(folder / "essay_long.pdf", copies=args.copies)
        pages = _pages(big)
        seconds = statistics.median(_read_and_split(big)[1] for _ in range(args.repeat))
        print(f"\nPDF reading + splitting (no model): {pages} pages in {seconds * 1000:.0f} ms, "
              f"{seconds / pages * 1000:.1f} ms per page (median of {args.repeat})")

        if args.hit1:
            import qa
            from qa.embed import Embedder

            settings = Settings(index_dir=folder / "index")
            embedder = Embedder(settings)
            print(f"\nessay dev ({DEV.name}) hit@1 per format, hybrid retriever:")
            for name, path in files.items():
                report = qa.evaluate(DEV, corpus=[path], settings=settings, embedder=embedder, progress=False)
                m = report.metrics
                print(f"{name:28} hit@1 {m['hit@1']:.3f}  hit@3 {m['hit@3']:.3f}  mrr@10 {m['mrr@10']:.3f}")


if __name__ == "__main__":
    main()
