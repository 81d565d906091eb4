"""The file validators decode a file's RLE strings together (objprop.data.ytvis._RLEBatch)
yet report what checking one track at a time reported: the first problem in file order,
the lowest frame of an item first, and an earlier item's RLE problem before a later item's
other problem."""
import copy

import numpy as np
import pytest

from objprop.data.ytvis import (encode_mask, segmentation_problems, validate_results,
                                validate_ytvis)
from objprop.errors import ObjPropError

SIZES = {1: (24, 32), 2: (20, 40)}     # two videos of different frame sizes


def masks(rng, h, w, n=5):
    return [encode_mask(rng.random((h, w)) < 0.3) for _ in range(n)]


def dataset(seed=0, n_results=8):
    rng = np.random.default_rng(seed)
    videos = [dict(id=v, length=5, height=h, width=w, file_names=[f"{v}/{t}.jpg" for t in range(5)])
              for v, (h, w) in SIZES.items()]
    gt = dict(videos=videos, categories=[dict(id=1, name="a"), dict(id=2, name="b")],
              annotations=[dict(id=k + 1, video_id=1 + k % 2, category_id=1, iscrowd=0,
                                segmentations=masks(rng, *SIZES[1 + k % 2]))
                           for k in range(6)])
    results = [dict(video_id=1 + k % 2, category_id=1, score=0.5,
                    segmentations=masks(rng, *SIZES[1 + k % 2])) for k in range(n_results)]
    return gt, results


def one_by_one(results, gt):
    """The reference: each result's segmentations checked alone, in file order (the ids
    first, as the validator does), the first problem reported."""
    videos = {v["id"]: v for v in gt["videos"]}
    for k, r in enumerate(results):
        if r["video_id"] not in videos:
            return f"result {k} names unknown video_id {r['video_id']}"
        if r["category_id"] not in {c["id"] for c in gt["categories"]}:
            return f"result {k} names unknown category_id {r['category_id']}"
        v = videos[r["video_id"]]
        problems = segmentation_problems(r["segmentations"], v["height"], v["width"])
        if problems:
            f = min(problems)
            return f"result {k}, frame {f}: {problems[f]}"
    return None


def truncated(segm):
    return dict(segm, counts=segm["counts"][:-1] + "a")   # 'a': a continuation character


def corrupt(segm):
    # one run more at the end (stored as a delta to the run two before, so at least 1
    # pixel long): always covers more pixels than the frame ("0" in front would not when
    # the mask starts with a foreground pixel: the runs then only shift)
    return dict(segm, counts=segm["counts"] + "1")


def refusal(fn, *args):
    with pytest.raises(ObjPropError) as err:
        fn(*args)
    return str(err.value)


def test_a_valid_file_passes_whole():
    gt, results = dataset()
    assert validate_ytvis(gt) is gt
    assert validate_results(results, gt) is results


def test_the_first_problem_in_file_order_is_reported():
    gt, results = dataset()
    results[2]["segmentations"][3] = corrupt(results[2]["segmentations"][3])
    results[2]["segmentations"][1] = truncated(results[2]["segmentations"][1])
    results[4]["category_id"] = 9
    results[5]["segmentations"][0] = corrupt(results[5]["segmentations"][0])
    assert list(segmentation_problems(results[2]["segmentations"], *SIZES[1])) == [1, 3]
    message = refusal(validate_results, results, gt)
    assert message.endswith(one_by_one(results, gt))
    assert "result 2, frame 1: RLE counts end in the middle of a run" in message


def test_an_earlier_rle_problem_wins_over_a_later_items_other_problem():
    gt, results = dataset()
    results[1]["segmentations"][4] = corrupt(results[1]["segmentations"][4])
    results[3]["score"] = -1.0
    assert "result 1, frame 4: RLE counts" in refusal(validate_results, results, gt)
    # and a problem of an earlier item that is not an RLE one still wins over a later RLE
    gt, results = dataset()
    results[1]["video_id"] = 7
    results[3]["segmentations"][0] = corrupt(results[3]["segmentations"][0])
    assert refusal(validate_results, results, gt).endswith("result 1 names unknown video_id 7")


def test_an_items_lowest_frame_wins_across_kinds_of_problem():
    gt, results = dataset()
    results[0]["segmentations"][3] = [[1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]]   # polygon
    results[0]["segmentations"][2] = truncated(results[0]["segmentations"][2])
    message = refusal(validate_results, results, gt)
    assert message.endswith(one_by_one(results, gt))
    assert "result 0, frame 2:" in message
    # and the other way round: the structural problem at the lower frame wins
    gt, results = dataset()
    results[2]["segmentations"][1] = dict(results[2]["segmentations"][1], size=[3, 3])
    results[2]["segmentations"][4] = truncated(results[2]["segmentations"][4])
    message = refusal(validate_results, results, gt)
    assert message.endswith(one_by_one(results, gt))
    assert message.endswith("result 2, frame 1: RLE size [3, 3] is not the video's [24, 32]")


def test_frame_sizes_are_kept_apart():
    """A mask encoded for the other video's size is refused with its pixel count, while
    the same string in its own video passes."""
    gt, results = dataset()
    other = results[1]["segmentations"][2]                  # video 2's size
    results[0]["segmentations"][2] = dict(other, size=list(SIZES[1]))
    message = refusal(validate_results, results, gt)
    assert message.endswith(one_by_one(results, gt))
    assert f"cover {SIZES[2][0] * SIZES[2][1]} pixels, not the frame's " \
           f"{SIZES[1][0] * SIZES[1][1]}" in message
    results[0]["segmentations"] = list(results[1]["segmentations"])
    results[0]["video_id"] = 2                                # in its own video
    assert validate_results(results, gt) is results


def test_random_damage_matches_checking_one_track_at_a_time():
    rng = np.random.default_rng(5)
    damages = [truncated, corrupt, lambda s: dict(s, counts="~" + s["counts"]),
               lambda s: dict(s, size=[3, 3])]
    for trial in range(20):
        gt, results = dataset(seed=trial)
        for _ in range(int(rng.integers(1, 4))):
            k, f = int(rng.integers(len(results))), int(rng.integers(5))
            damage = damages[int(rng.integers(len(damages)))]
            results[k]["segmentations"][f] = damage(results[k]["segmentations"][f])
        assert refusal(validate_results, copy.deepcopy(results), gt).endswith(
            one_by_one(results, gt))


def test_ground_truth_is_checked_the_same_way():
    gt, _ = dataset()
    gt["annotations"][3]["segmentations"][2] = corrupt(gt["annotations"][3]["segmentations"][2])
    gt["annotations"][1]["segmentations"][4] = truncated(gt["annotations"][1]["segmentations"][4])
    assert "annotation 2, frame 4: RLE counts end in the middle of a run" in refusal(
        validate_ytvis, gt)



def test_a_later_items_other_problems_do_not_preempt_an_earlier_rle_problem():
    """Each kind of later problem the validator finds outside the segmentations, and a
    later item that makes the checks crash (a 400-digit JSON integer overflows
    ``math.isfinite``): the earlier item's bad RLE is still what is reported."""
    laters = [lambda r: r.update(filled=[True]),
              lambda r: r.update(category_id=9),
              lambda r: r.pop("score"),
              lambda r: r.update(score=10 ** 400),
              lambda r: r.update(segmentations=r["segmentations"][:2])]
    for spoil in laters:
        gt, results = dataset()
        results[1]["segmentations"][2] = corrupt(results[1]["segmentations"][2])
        spoil(results[6])
        assert "result 1, frame 2: RLE counts cover" in refusal(validate_results, results, gt)


def test_an_items_bad_rle_comes_before_its_own_other_fields():
    """Within an annotation the segmentations are checked before 'bboxes' and 'areas'."""
    gt, _ = dataset()
    a = gt["annotations"][2]
    a["segmentations"][4] = truncated(a["segmentations"][4])
    a["bboxes"] = [[0, 0, 1, 1]] * 4 + [[0, 0, "x", 1]]
    assert "annotation 3, frame 4: RLE counts end in the middle of a run" in refusal(
        validate_ytvis, gt)


def test_ground_truth_order_against_other_problems():
    gt, _ = dataset()
    gt["annotations"][1]["segmentations"][3] = corrupt(gt["annotations"][1]["segmentations"][3])
    gt["annotations"][4]["areas"] = [1.0, None, float("nan"), 2.0, 3.0]
    gt["annotations"][5]["id"] = 1                                    # repeated
    assert "annotation 2, frame 3: RLE counts cover" in refusal(validate_ytvis, gt)
    # an earlier annotation's other problem still wins over a later bad RLE
    gt, _ = dataset()
    gt["annotations"][1]["category_id"] = 5
    gt["annotations"][3]["segmentations"][0] = truncated(gt["annotations"][3]["segmentations"][0])
    assert refusal(validate_ytvis, gt).endswith("annotation 2 names unknown category_id 5")
    # and a ground truth whose only bad RLE is in another video's size
    gt, _ = dataset()
    gt["annotations"][4]["segmentations"][1] = dict(gt["annotations"][1]["segmentations"][1],
                                                    size=list(SIZES[1]))
    assert refusal(validate_ytvis, gt).endswith(
        f"annotation 5, frame 1: RLE counts cover {SIZES[2][0] * SIZES[2][1]} pixels, not "
        f"the frame's {SIZES[1][0] * SIZES[1][1]} (corrupt, or encoded for another size)")


def in_file_order(results, gt):
    """The reference of :func:`one_by_one`, with the result checks the validator makes
    around the segmentations, in its order: score, ids, segmentations, 'filled'."""
    videos = {v["id"]: v for v in gt["videos"]}
    for k, r in enumerate(results):
        if r["score"] < 0:
            return f"result {k}: 'score' is negative ({r['score']})"
        found = one_by_one([r], gt)
        if found:
            return found.replace("result 0", f"result {k}", 1)
        n = videos[r["video_id"]]["length"]
        if "filled" in r and len(r["filled"]) != n:
            return f"result {k}: 'filled' is not one true/false per frame ({n})"
    return None


def test_random_mixed_damage_matches_checking_one_item_at_a_time():
    rng = np.random.default_rng(9)
    rle_damages = [truncated, corrupt, lambda s: dict(s, counts="")]
    other_damages = [lambda r: r.update(score=-0.5), lambda r: r.update(category_id=3),
                     lambda r: r.update(filled=[False] * 4)]
    for trial in range(30):
        gt, results = dataset(seed=100 + trial)
        for _ in range(int(rng.integers(1, 5))):
            k = int(rng.integers(len(results)))
            if rng.random() < 0.6:
                f = int(rng.integers(5))
                damage = rle_damages[int(rng.integers(len(rle_damages)))]
                results[k]["segmentations"][f] = damage(results[k]["segmentations"][f])
            else:
                other_damages[int(rng.integers(len(other_damages)))](results[k])
        assert refusal(validate_results, results, gt).endswith(in_file_order(results, gt))

def rle_fr_string(s):
    """pycocotools' ``rleFrString`` (cocoapi ``common/maskApi.c``), transcribed with
    Python integers: the run lengths a compressed string decodes to, and whether it ended
    in the middle of a run or held a run of more than 7 characters."""
    cnts, p, truncated, too_long = [], 0, False, False
    while p < len(s):
        x = k = 0
        more = 1
        while more:
            if p == len(s):
                truncated = True
                break
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << 5 * k
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        too_long |= k > 7
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts, truncated, too_long


def expected_problem(s, n_pixels):
    if not s:
        return "are empty"
    if any(not 48 <= ord(ch) <= 111 for ch in s):
        return "outside pycocotools' alphabet"
    cnts, truncated, too_long = rle_fr_string(s)
    if truncated:
        return "truncated"
    if too_long:
        return "too long"
    if min(cnts) < 0:
        return "negative run length"
    if sum(cnts) != n_pixels:
        return f"cover {sum(cnts)} pixels"
    return None


@pytest.mark.parametrize("chunk_chars", [None, 1, 40])
def test_rle_strings_decode_as_pycocotools_does(chunk_chars, monkeypatch):
    """The vectorised decoding of many strings at once (one call for a whole file, decoded
    in chunks of strings: one string each, a few, all of them) finds what the
    transcription of pycocotools' decoder finds, string by string."""
    from objprop.data import ytvis
    from objprop.data.ytvis import _rle_string_problems
    if chunk_chars:
        monkeypatch.setattr(ytvis, "_RLE_CHUNK_CHARS", chunk_chars)
    rng = np.random.default_rng(11)
    for trial in range(300):
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        strings = []
        for _ in range(int(rng.integers(1, 12))):
            s = encode_mask(rng.random((h, w)) < rng.uniform(0, 1))["counts"]
            r = rng.random()
            if r < 0.15:
                s = s[:int(rng.integers(0, len(s) + 1))]
            elif r < 0.3:
                i = int(rng.integers(0, len(s) + 1))
                s = s[:i] + chr(int(rng.integers(40, 120))) + s[i:]
            elif r < 0.4:
                s = "".join(chr(int(x)) for x in rng.integers(48, 112, size=int(rng.integers(1, 20))))
            elif r < 0.45:
                s = "o" * int(rng.integers(1, 12)) + "0"
            strings.append(s)
        found = _rle_string_problems(strings, h * w)
        for i, s in enumerate(strings):
            want = expected_problem(s, h * w)
            assert (want is None) == (i not in found), (s, want, found.get(i))
            assert want is None or want in found[i], (s, want, found[i])
