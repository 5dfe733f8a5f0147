"""Gradent's settings with django-q2's own scheduler switched on, for the baseline of
bench/fire_lag.py only (DJANGO_SETTINGS_MODULE=bench.settings_q_scheduler for that one
qcluster). Successful tasks are all kept (save_limit 0) so their start times can be read.
"""

from gradent.settings import *  # noqa: F403
from gradent.settings import Q_CLUSTER as _GRADENT_Q_CLUSTER

Q_CLUSTER = {**_GRADENT_Q_CLUSTER, "scheduler": True, "save_limit": 0}
