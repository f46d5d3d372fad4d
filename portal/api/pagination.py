"""How every API list is cut into pages: ``?page=2&page_size=500``."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; 100 rows a page unless asked, at most 1,000.

    A larger ``page_size`` is cut to 1,000 rather than refused, so a script that asks for
    "everything" still gets pages it can follow with ``next``.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
