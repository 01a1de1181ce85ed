"""The demo: synth → train → localize → evaluate on a synthetic benchmark, and its ``report.md``.

* :mod:`ecm.demo.pipeline` — :func:`run_demo`, the timed stages;
* :mod:`ecm.demo.report` — the report's Markdown (mAP, frame accuracy, diagnosis, times, commands, plots).
"""
