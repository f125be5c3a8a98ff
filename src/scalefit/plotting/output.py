"""Where a figure goes: the image formats matplotlib can write here, and
:func:`check_image_path`, which checks a figure's output path (a suffix matplotlib can
write, an existing folder) before the work that makes the figure.
"""

from __future__ import annotations

import os
from pathlib import Path

from scalefit.errors import ScalefitError
from scalefit.validate import shown_value, suggest


def image_suffixes() -> list[str]:
    """File suffixes (without the dot) matplotlib can write here, e.g. ``['eps', 'jpg', ...]``.

    ``pgf`` only where its TeX system is installed; ``webp``/``avif`` only where Pillow
    supports them.
    """
    import shutil

    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    suffixes = sorted(FigureCanvasBase.get_supported_filetypes())
    drop = set()
    if shutil.which(str(matplotlib.rcParams.get("pgf.texsystem", "xelatex"))) is None:
        drop.add("pgf")
    try:
        from PIL import features

        drop |= {s for s in ("webp", "avif") if not features.check(s)}
    except Exception:  # an old Pillow without these features: keep matplotlib's word for it
        pass
    return [s for s in suffixes if s not in drop]


def check_image_path(path: str | os.PathLike, argument: str = "out") -> Path:
    """Check a figure's output path before any work: its suffix must be a format matplotlib
    can write (see :func:`image_suffixes`), and its folder must exist.

    Returns the path as a ``Path``. Raises ``TypeError`` for something that is not a path,
    :class:`~scalefit.ScalefitError` (naming ``argument``) otherwise::

        --out must end in a suffix matplotlib can write (.eps, .jpeg, .jpg, .pdf, ...), got 'x.xyz'
    """
    if not isinstance(path, str | os.PathLike) or (isinstance(path, str) and not path.strip()):
        raise TypeError(
            f"{argument} must be a path to an image file such as 'figure.png', got {shown_value(path)} "
            f"({type(path).__name__})"
        )
    p = Path(path)
    suffixes = image_suffixes()
    allowed = ", ".join(f".{s}" for s in suffixes)
    suffix = p.suffix.lower().lstrip(".")
    if suffix not in suffixes:
        close = suggest(suffix, suffixes) if suffix else ""
        got = f"{str(p)!r}" + (f" (suffix .{suffix}{close})" if suffix else " (no suffix)")
        raise ScalefitError(
            f"{argument} must end in a suffix matplotlib can write ({allowed}), got {got}; "
            f"e.g. {p.with_suffix('.png') if suffix else Path(str(p) + '.png')}"
        )
    if p.is_dir():
        raise ScalefitError(f"{argument} {str(p)!r} is a folder; give a file name such as {str(p / 'figure.png')!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ScalefitError(
            f"{argument} {str(p)!r}: the folder {str(parent)!r} does not exist; create it first or choose another path"
        )
    return p
