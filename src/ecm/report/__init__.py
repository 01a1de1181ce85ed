"""``ecm report``: one self-contained HTML page to look at a run — its recipe, curves, results, error
diagnosis and every video's timeline — drawn in the browser from data gathered here."""

from ecm.report.collect import collect_report
from ecm.report.page import render_page, write_page

__all__ = ["collect_report", "render_page", "write_page"]
