"""The API's JSON parser: DRF's, with the bodies that would otherwise reach the database and fail
there (a 500) answered 400 at the door."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# The largest value an integer column holds on PostgreSQL: API fields stored in one say so, or a
# larger number reaches the database and fails there (a 500 where a 400 belongs).
DATABASE_INT_MAX = 2_147_483_647


class StrictJSONParser(JSONParser):
    """Refuses JSON nested deeper than Python's recursion allows (a few thousand `[`), strings with
    lone surrogates (not encodable as UTF-8) and NUL characters (PostgreSQL stores neither in text
    nor in jsonb). API bodies are small; batches take their own, streaming path."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            text = json.dumps(data, ensure_ascii=False)
            text.encode("utf-8")
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
        except UnicodeEncodeError as exc:
            raise ParseError("JSON parse error - a string holds a lone surrogate, which is not text.") from exc
        if "\\u0000" in text:
            raise ParseError("JSON parse error - a string holds a NUL character.")
        return data
