"""The one markdown table formatter: every table the book, the README and the command line
print goes through :func:`markdown_table`."""


def markdown_table(rows, columns, first=("Method", "method"), extra=(("Source", "source"),),
                   digits=1):
    """A markdown table of dict rows; ``columns`` are (header, key) pairs. A float cell with
    a ``<key>_std`` beside it (see :func:`summary_rows`) reads ``mean ± std``."""
    cols = [first, *columns, *extra]
    lines = ["| " + " | ".join(h for h, _ in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for _, k in cols:
            v, sd = r.get(k, ""), r.get(f"{k}_std")
            if isinstance(v, float):
                cells.append(f"{v:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}"))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
