"""The version of scalefit, recorded in every file it writes.

Written here once and read by the build (``[tool.setuptools.dynamic]`` in ``pyproject.toml``),
so the installed metadata and this string cannot disagree; reading it costs no
``importlib.metadata`` scan at import (~35 ms of every fresh process).
"""

__version__ = "0.1.0"
