"""What the paper and the data sets it uses report, quoted once.

Every published number the book shows (Tables 1 and 2, the training recipe, the feature
stride, the sizes of YouTube-VIS) is read from here, by the library or by a chapter's prose
through myst-nb ``glue`` (:func:`prose_values`); nothing else types them. Sources are the
paper's full text (``../shared/paper/objprop-paper.md``) and the data sets' own papers.
"""

TABLE1 = dict(
    source=("Chakravarthy et al. (ObjProp), Table 1: oracle study of MaskTrack R-CNN on the "
            "mini-val split of YouTube-VIS (mAP, percent)"),
    rows=[dict(name="MaskTrack R-CNN", oracles=[], AP=36.8, gain=None),
          dict(name="+ box", oracles=["box"], AP=41.9, gain=5.1),
          dict(name="+ class", oracles=["box", "class"], AP=53.1, gain=11.2),
          dict(name="+ mask", oracles=["box", "class", "mask"], AP=85.3, gain=32.2),
          dict(name="+ track", oracles=["box", "class", "mask", "track"], AP=100.0, gain=14.7)])

TABLE2_SOURCE = ("Chakravarthy et al., Table 2: YouTube-VIS 2019 validation set, "
                 "ResNet-50 backbones")
TABLE2 = [
    dict(method="MaskTrack R-CNN", AP=30.3, AP50=51.1, AP75=32.6, AR1=31.0, AR10=35.5),
    dict(method="STEm-Seg", AP=30.6, AP50=50.7, AP75=33.5, AR1=31.6, AR10=37.1),
    dict(method="SipMask", AP=32.5, AP50=53.0, AP75=33.3, AR1=33.5, AR10=38.9),
    dict(method="ObjProp", AP=36.0, AP50=59.4, AP75=39.2, AR1=39.1, AR10=47.7),
]

# Sec. 2.2, *Training*: "trained on 4 Tesla V100 GPUs. We use a batch size of 24, with 6
# images on each GPU. We train our model for 12 epochs using SGD optimizer with a learning
# rate of 0.005, which is decayed by a factor of 10 at 8 and 11 epochs."
TRAINING = dict(gpus=4, images_per_gpu=6, batch=24, optimizer="SGD", lr=0.005, epochs=12,
                lr_steps=(8, 11), backbone="ResNet-50", pretrained="COCO")

# Sec. 2.2, *Inter-frame affinity*: "resized into the stride of 16 of the image resolution"
FEATURE_STRIDE = 16

# The data set's own paper: YouTube-VIS 2019 (Yang et al., ICCV 2019, Sec. 3)
DATASETS = {
    "YouTube-VIS 2019": dict(train_videos=2238, valid_videos=302, test_videos=343,
                             categories=40),
}

# How many frames a YouTube-VIS video has annotated: its videos come from YouTube-VOS, whose
# paper (Xu et al., 2018) annotates "every 5 frames in 30-fps videos" "around 3 to 6 seconds"
# long, i.e. 18 to 36 annotated frames a video. Neither paper states the training split's
# frame count: `objprop prepare` counts it from the annotation file. The GPU check's
# extrapolation of the paper's schedule brackets it with this range.
YTVIS_ANNOTATED_FRAMES_PER_VIDEO = (3 * 30 // 5, 6 * 30 // 5)


def ap(method):
    """A method's mAP in the paper's Table 2 (:data:`TABLE2`)."""
    return next(r["AP"] for r in TABLE2 if r["method"] == method)


def scaled_gain(baseline_ap):
    """The paper's ObjProp gain over MaskTrack R-CNN, relative to its baseline (Table 2),
    on a baseline of ``baseline_ap``: the claimed effect at another scale."""
    return (ap("ObjProp") / ap("MaskTrack R-CNN") - 1) * baseline_ap


def oracle_gain(name):
    """The mAP a row of Table 1 adds over the row above it (``"+ mask"`` -> 32.2)."""
    return next(r["gain"] for r in TABLE1["rows"] if r["name"] == name)


def prose_values():
    """The published numbers the chapters' prose names, keyed for ``{glue:text}``."""
    ytvis = DATASETS["YouTube-VIS 2019"]
    return dict(
        paper_ap_objprop=ap("ObjProp"), paper_ap_masktrack=ap("MaskTrack R-CNN"),
        paper_oracle_box=oracle_gain("+ box"), paper_oracle_class=oracle_gain("+ class"),
        paper_oracle_mask=oracle_gain("+ mask"), paper_oracle_track=oracle_gain("+ track"),
        paper_gpus=TRAINING["gpus"], paper_backbone=TRAINING["backbone"],
        paper_pretrained=TRAINING["pretrained"], paper_stride=FEATURE_STRIDE,
        ytvis_train_videos=ytvis["train_videos"], ytvis_categories=ytvis["categories"])
