"""medrl's version, in a module of its own so that any module can import it without importing the package API."""

from importlib import metadata

try:
    __version__ = metadata.version("medrl")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
