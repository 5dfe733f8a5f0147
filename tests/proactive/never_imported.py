"""A callable probe target that no test imports: the registry tests check that a path not
registered in GRADENT_CALLABLE_PROBES is never imported (this module stays out of sys.modules)."""

from __future__ import annotations


def probe(config, context):
    return 1
