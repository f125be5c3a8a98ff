"""Laws: terms and the algebra that composes them, formulas, the general expression path and the catalogue."""

from scalefit.laws import general  # noqa: F401 - registers the expression term's reader for saved laws
