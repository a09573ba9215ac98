"""API input that would otherwise reach the database and fail there (a 500): JSON nested too deeply,
JSON fields holding what PostgreSQL cannot store, integers larger than their column."""

import json
from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

# The largest value an integer column holds on PostgreSQL: API fields stored in one say so, or a
# larger number reaches the database and fails there (a 500 where a 400 belongs).
DATABASE_INT_MAX = 2_147_483_647


def storable_as_json(value: Any) -> None:
    """A validator for API fields stored as JSON (PostgreSQL's jsonb): no NUL character and no lone
    surrogate anywhere inside, which the database cannot store (a 500 where a 400 belongs). Text
    fields have DRF's own validators for both."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("A string holds a lone surrogate, which is not text.") from exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError("Not storable as JSON.") from exc
    if "\\u0000" in text:
        raise ValidationError("A string holds a NUL character.")


class StrictJSONParser(JSONParser):
    """Refuses JSON nested deeper than Python's recursion allows (a few thousand `[`) with a 400
    instead of the RecursionError's 500. What is in the strings is for the fields to judge: a
    property the API ignores may hold anything."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
