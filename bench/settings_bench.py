"""Gradent's settings plus a bare view, for bench/webhook_ingest.py's baseline only
(DJANGO_SETTINGS_MODULE=bench.settings_bench for the benchmarked server)."""

from gradent.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"
