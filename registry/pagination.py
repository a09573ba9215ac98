"""API list pagination: DRF's page numbers, but a `?page=` that is present and empty is an error.
DRF reads it as page 1, so a client that builds the parameter wrongly never learns it."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class StrictPageNumberPagination(PageNumberPagination):
    def get_page_number(self, request: Request, paginator: object) -> int | str:
        values = request.query_params.getlist(self.page_query_param)
        if any(not value.strip() for value in values):
            raise NotFound("Invalid page: give a page number, e.g. ?page=2.")
        return super().get_page_number(request, paginator)
