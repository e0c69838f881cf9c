"""What the router reads from a view at declaration: what the view asks for by name, and what it answers."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.access import OWNER, PUBLIC
from chalicelib.api.classic import errors
from chalicelib.api.classic.routes import CLASSIC
from chalicelib.api.router import Router


def test_a_view_may_ask_only_for_its_path_parameters_and_what_the_router_hands_in() -> None:
    router = Router(CLASSIC, errors.render)
    with pytest.raises(ValueError, match="asks for \\['db'\\]"):
        @router.route("/things/{name}", access=PUBLIC, summary="a thing")
        def thing(name: str, db: Any) -> dict[str, str]:
            return {}


def test_shapes_and_answers_are_read_from_the_views_annotations() -> None:
    router = Router(CLASSIC, errors.render)

    @router.route("/things/{username}", methods=("POST",), access=OWNER, summary="things", status=201)
    def things(username: str, body: NewThing, query: PageQuery, uow: Any) -> Page[ThingOut]:  # noqa: F821
        raise AssertionError("never called")

    (spec,) = router.specs
    assert (spec.body, spec.query, spec.response, spec.paged, spec.status) == (
        "NewThing", "PageQuery", "list[ThingOut]", True, 201)
    assert spec.errors[:3] == (401, 403, 429) and 400 in spec.errors
