"""The installed version of scalefit, recorded in every file it writes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scalefit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"
