"""Segment geometry shared by post-processing and evaluation (temporal IoU), numpy only."""

from ecm.ops.segments import interval_iou, paired_iou, segment_iou

__all__ = ["interval_iou", "paired_iou", "segment_iou"]
