"""Pagination that reads one page and the total count in a single query.

A filtered list over 100,000 rows costs one table scan for the count and one for the page with
Flask-SQLAlchemy's paginate(); COUNT(*) OVER () gets both from the same scan.
"""
from dataclasses import dataclass
from math import ceil

import sqlalchemy as sa

from crm.extensions import db


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int
    #: The total is a lower bound: more than `total` match (a count that stopped early).
    more: bool = False

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more or self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


DEFAULT_PER_PAGE = 50


def window(page: int | None, per_page: int | None, max_per_page: int = 200) -> tuple[int, int]:
    """The page number and page size to use (nonsense numbers are ignored)."""
    page = page if page and page > 0 else 1
    per_page = min(per_page, max_per_page) if per_page and per_page > 0 else DEFAULT_PER_PAGE
    return page, per_page


def paginate(
    stmt: sa.Select, *, page: int | None, per_page: int | None, max_per_page: int = 200, one_scan: bool = True,
    total: int | None = None, more: bool = False,
) -> Page:
    """The entities of `stmt` on `page`, and how many there are in all.

    one_scan=False suits an unfiltered list: its page comes straight from an index and the table's
    count is cheap, whereas counting in the same query would visit every row. A `total` the caller
    already knows is used as it is (`more`: it is a lower bound), and only the page is read.
    """
    page, per_page = window(page, per_page, max_per_page)
    offset = (page - 1) * per_page
    if total is None and one_scan:
        rows = db.session.execute(
            stmt.add_columns(sa.func.count().over().label("total")).limit(per_page).offset(offset)
        ).all()
        if rows:
            return Page([row[0] for row in rows], rows[0].total, page, per_page)
        # Past the last page (or nothing found): the total needs a query of its own.
    if total is None:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(per_page).offset(offset)).all() if offset < total else []
    return Page(items, total, page, per_page, more)
