"""Built-in recipes: from a labelled dataset to the best classifier gencls can make of it, chosen on the
validation split."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.recipes.auto import Auto


@hookimpl
def gencls_register_recipes(register):
    register(Auto)
