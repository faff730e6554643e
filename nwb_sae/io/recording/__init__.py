"""The recording side: NWB / HDF5 / arrays in, one labelled ``(neurons, time, presentations)`` array out.

``nwb`` (:func:`read_nwb`, :func:`open_activity`) finds the activity and the interval tables
(``nwb_find``, ``nwb_tables``) in a file opened safely (``nwb_file``), reads it as an
:class:`~nwb_sae.io.recording.nwb_source.ActivitySource` (continuous series, or spike trains in
``units``), and cuts windows around presentations (``nwb_windows``) by the rule of
:mod:`nwb_sae.io.align`. ``arrays`` reads ``.npy`` / ``.npz`` / ``.nc`` / plain HDF5, ``describe``
lists what a file holds. Nothing is imported here, so that each reader loads only what it needs.
"""
