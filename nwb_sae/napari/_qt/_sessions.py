"""Stepping through the sessions of the selected ensemble's track (files written by ``nwb-sae track``).

A mixin of :class:`~nwb_sae.napari._qt._widget.SaeBrowserWidget`: a line says the selected latent's
track, its status and the sessions it is present in; "◀ session" / "session ▶" open the previous / next
session where the track is present, in the same viewer (its layers replace this file's), with the
track's latent of that session selected.
"""

from __future__ import annotations

from nwb_sae.napari._tracks import latent_of_track


class SessionStepMixin:
    """The track line and the session buttons of the browser widget."""

    def _show_track(self) -> None:
        """Fill the track line and enable the buttons for the selected latent."""
        context = self.browser.track_context if self.browser is not None else None
        if context is None or self.latent is None:
            self.track_row.hide()
            return
        text = context.describe(self.latent)
        if context.missing:
            text += f" (files not found for {', '.join(context.missing)})"
        self.track_label.setText(text)
        self.previous_session.setEnabled(context.neighbour(self.latent, -1) is not None)
        self.next_session.setEnabled(context.neighbour(self.latent, +1) is not None)
        self.track_row.show()

    def step_session(self, step: int):
        """Open the session ``step`` presences away (-1 previous, +1 next) on the selected latent's track.

        Returns
        -------
        Browser or None
            The newly opened file; None when the track has no such session (nothing changes).
        """
        old = self.browser
        context = old.track_context if old is not None else None
        target = context.neighbour(self.latent, step) if context is not None and self.latent is not None else None
        if target is None:
            return None
        track = int(context.track_of(self.latent)["track"])
        _, path = target
        latent = latent_of_track(path, track, old.module)
        new = self.load(path, old.module)
        if new is None:
            return None
        for layer in list(self._layers_of(old).values()):  # the old file closes with its last layer
            self.viewer.layers.remove(layer)
        if latent is not None:
            self.select_latent(latent)
        self._frame(new)
        return new
