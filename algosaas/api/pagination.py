"""Page-number pagination whose ``page_size`` a client may choose, up to a configured cap."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.ALGOSAAS["MAX_PAGE_SIZE"]

    def get_page_size(self, request) -> int:
        """The requested page size, capped; 400 for one that is not a positive integer.

        DRF silently falls back to the default for ``?page_size=abc``; a client with a typo
        should hear about it instead (schemathesis found the silent acceptance).
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({self.page_size_query_param: ["Must be a positive integer."]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_query_param, self.page_size_query_param):
                parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Number of results to return per page (default {self.page_size}; "
                    f"larger values are capped at {self.max_page_size})."
                )
        return parameters
