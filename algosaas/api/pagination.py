"""Page-number pagination whose ``page_size`` a client may choose, up to a configured cap."""

from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.ALGOSAAS["MAX_PAGE_SIZE"]
