"""Laws: terms and the algebra that composes them, formulas, the general expression path and the catalogue."""

# registers the expression term's reader for saved laws, and the general path's operators with the terms
from scalefit.laws import expression_algebra, general  # noqa: F401
