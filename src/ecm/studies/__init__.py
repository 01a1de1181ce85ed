"""Ablation studies: plans of variants × seeds, their runs, results as typed rows, tables, comparisons, plots.

* :mod:`ecm.studies.plan` — what a study trains (:class:`StudyPlan`); :mod:`ecm.studies.paper` — the paper's rows;
* :mod:`ecm.studies.runner` — training, evaluation and fusion of every run (:func:`run_study`);
* :mod:`ecm.studies.results` — :class:`Study` and :class:`StudyRow` (``ablation.json``), built from the run
  folders by :mod:`ecm.studies.collect`;
  :mod:`ecm.studies.tables` — ``ablation.md``; :mod:`ecm.studies.plot` — ``curves.png``;
* :mod:`ecm.studies.compare` — paired comparison of two studies; :mod:`ecm.studies.fusion` — late-fusion baselines;
* :mod:`ecm.studies.layout` — the paths of a study folder.

Reading results (``results``, ``tables``, ``compare``, ``plot``) does not import torch; running a study does.
"""
