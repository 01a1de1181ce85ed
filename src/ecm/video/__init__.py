"""From video files to I3D features (the ``video`` extra: PyAV and OpenCV contrib).

* :mod:`ecm.video.decode` — frames at a fixed rate by timestamps, resized and centre-cropped, in chunks;
* :mod:`ecm.video.flow` — TV-L1 or Farnebäck optical flow, clipped and scaled;
* :mod:`ecm.video.i3d` — the two-stream I3D network, loading the public converted Kinetics weights;
* :mod:`ecm.video.extract` — the resumable extraction into the common feature layout.
"""
