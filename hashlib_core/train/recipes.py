"""Recipes: which conventions a run applies, named once for every method.

``"authors"`` reproduces what the authors' released code does (input scaling, selection rules, schedules, seeding
as they have them); ``"hashbook"`` applies this project's conventions, each one named in the run record
(``settings["recipe"]``, ``settings["conventions"]``). ``recipe=None`` means the profile's: the ``paper`` profile
is the authors' schedule with the authors' recipe, ``default`` and ``smoke`` use ours.
"""

from __future__ import annotations

RECIPES = ("authors", "hashbook")
#: the recipe of each profile when a run does not name one
PROFILE_RECIPES = {"paper": "authors", "default": "hashbook", "smoke": "hashbook"}


def resolve_recipe(method: str, recipe: str | None, profile: str) -> str:
    """``recipe`` when given (``"authors"`` | ``"hashbook"``), else the profile's (:data:`PROFILE_RECIPES`);
    ``ValueError`` naming the method and the argument otherwise."""
    if recipe is None:
        if profile not in PROFILE_RECIPES:
            raise ValueError(f"{method}: profile must be one of {sorted(PROFILE_RECIPES)}, got {profile!r}")
        return PROFILE_RECIPES[profile]
    if recipe not in RECIPES:
        raise ValueError(f"{method}: recipe must be None (the profile's) or one of {RECIPES}, got {recipe!r}")
    return recipe
