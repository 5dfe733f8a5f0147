"""The API's JSON parser (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``).

Imports no ``rest_framework.views``: DRF imports this module while that one loads."""

from __future__ import annotations

import codecs

from rest_framework import exceptions, parsers

from gradent.lib.jsonutil import JSONInputError, StrictJSONDecoder


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (``NaN`` / ``Infinity`` already refused) that also refuses numbers
    out of the float range (``1e999999``) and nesting deeper than ``GRADENT_JSON_MAX_DEPTH``.
    The 400 names the top-level field: ``{"input": ["input.x: numbers must be finite …"]}``."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return StrictJSONDecoder().decode(text)
        except JSONInputError as exc:
            message = f"JSON parse error - {exc}"
            if exc.path and isinstance(exc.path[0], str):
                raise exceptions.ParseError({exc.path[0]: [message]}) from None
            raise exceptions.ParseError(message) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
