"""The seeds-or-videos study (``results/power.json``, `make power`) as the claims chapter
shows it: the central comparison's spread over seeds at each split size, the seeds each size
needs for the book's target, and what they cost."""
from ..tables import markdown_table

POWER_COLUMNS = [("blocks", "blocks"), ("std over seeds of the paired difference", "diff_sd"),
                 ("smallest detectable effect at the book's seeds", "detectable"),
                 ("seeds for the target", "needed"), ("minutes for the target", "minutes")]


def plan_rows(power, book_seeds):
    """Per split size: the pooled spread over seeds, the smallest effect ``book_seeds`` seeds
    detect at it, the seeds that detect :data:`~objprop.studies.verdict.TARGET_DETECTABLE`,
    and their cost in minutes of the book on the machine's cores: each seed trains the pair
    and scores the book's per-seed passes on that many videos (``power['cost']``, the book's
    own times; no minutes without them)."""
    from ..studies.verdict import TARGET_DETECTABLE, detectable_effect, seeds_needed
    cost = power.get("cost")
    rows = []
    for r in power["sizes"]:
        need = seeds_needed(TARGET_DETECTABLE, r["diff_sd"])
        minutes = None
        if cost and need:
            core_s = need * (cost["train_pair_core_s"]
                             + r["videos"] * cost["inference_core_s_per_video"])
            minutes = core_s / cost["cores"] / 60
        rows.append(dict(r, detectable=detectable_effect(r["diff_sd"], book_seeds),
                         needed=need if need else "beyond the limit", minutes=minutes))
    return rows


def plan_table(power, book_seeds):
    return markdown_table(plan_rows(power, book_seeds), POWER_COLUMNS,
                          first=("videos", "videos"), extra=(), digits=2)


def cheapest(power, book_seeds):
    """The split size whose seeds reach the target in the fewest minutes (None without
    costs or where no size reaches it)."""
    rows = [r for r in plan_rows(power, book_seeds) if r["minutes"] is not None]
    return min(rows, key=lambda r: r["minutes"]) if rows else None


def power_sentence(power, book_seeds):
    """What the study says: how the spread moves with the split's size, the effect on the
    whole grown split over every seed, and the cheapest route to the target."""
    from ..studies.verdict import TARGET_DETECTABLE
    sizes = power["sizes"]
    first, last = sizes[0], sizes[-1]
    ratio = last["videos"] / first["videos"]
    parts = [f"From {first['videos']} to {last['videos']} videos ({ratio:.0f} times as many) "
             f"the spread over {len(power['seeds'])} seeds of ObjProp − MaskTrack R-CNN goes "
             f"from {first['diff_sd']:.2f} to {last['diff_sd']:.2f} mAP (pure video noise "
             f"would shrink it to {first['diff_sd'] / ratio ** 0.5:.2f}, a seed's own quality "
             f"not at all)."]
    whole = power.get("whole")
    if whole and whole.get("low") is not None:
        parts.append(f"On all {power['videos']} tuning videos the paired difference is "
                     f"{whole['mean']:+.2f} mAP, 95 % interval [{whole['low']:+.2f}, "
                     f"{whole['high']:+.2f}].")
    best = cheapest(power, book_seeds)
    if best is not None:
        parts.append(f"The cheapest way to a smallest detectable effect of "
                     f"{TARGET_DETECTABLE:.1f} mAP: {best['needed']} seeds on "
                     f"{best['videos']} videos, about {best['minutes']:.0f} min of the central "
                     f"pair's training and inference in the book (the evaluation chapter's "
                     f"other rows are scored on the same split and grow with it).")
    return " ".join(parts)
