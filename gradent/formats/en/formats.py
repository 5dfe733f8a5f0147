"""Gradent's date formats for English (FORMAT_MODULE_PATH): one unambiguous 24-hour form, so a
bare `{{ some_datetime }}` reads like the `when` filter (gradent.lib.timefmt)."""

from gradent.lib.timefmt import DATE, MINUTES

DATE_FORMAT = DATE
DATETIME_FORMAT = MINUTES
SHORT_DATE_FORMAT = DATE
SHORT_DATETIME_FORMAT = MINUTES
TIME_FORMAT = "H:i"
