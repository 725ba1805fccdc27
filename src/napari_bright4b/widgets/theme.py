"""Plot colours from the viewer's napari theme, so the dock's plots follow light and dark."""

from __future__ import annotations

from napari.utils.theme import get_theme


def theme_colours(viewer) -> tuple[str, str]:
    """``(background, text)`` of ``viewer``'s theme, as hex colours."""
    theme = get_theme(viewer.theme)
    return theme.background.as_hex(), theme.text.as_hex()


def style_axes(axes, background: str, text: str, ylabel: str) -> None:
    """Clear ``axes`` and give them the theme's background, text and spines."""
    axes.clear()
    axes.set_facecolor(background)
    axes.set_ylabel(ylabel, color=text)
    axes.tick_params(colors=text)
    for spine in axes.spines.values():
        spine.set_color(text)
