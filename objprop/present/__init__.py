"""The book's presentation, one module per chapter: tables, figures and sentences made from
the JSON the studies (:mod:`objprop.studies`) wrote. Presentation imports the studies,
never the other way round (``tests/test_layering.py``).

    evaluation   Table 2, its figure, the gain and split-size sentences, the fidelity rows
    stability    the temporal-stability and tracking tables, figure and sentence
    oracle       Table 1, its figure and sentence; the ``objprop oracle`` command
    propagation  the branch's figures, the IoU, filling and variant tables and sentences
    qualitative  the video the qualitative chapter shows
    claims       the paper's claims with their evidence and a verdict by rule
    readme       the README's results block
"""
