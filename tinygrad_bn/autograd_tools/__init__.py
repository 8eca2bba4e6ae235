"""Tools that watch the tape work, as observers of the engine: anomaly mode and the backward trace.

``anomaly.py``: ``detect_anomaly`` / ``set_detect_anomaly`` (where did this NaN come from?).
``trace.py``: ``trace`` (what did each node receive and send, step by step?). Both are reached as
``tg.autograd.detect_anomaly`` etc.; outside their ``with`` blocks they cost the engine nothing.
"""

from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .trace import Sent, Step, trace

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "trace", "Step", "Sent"]
