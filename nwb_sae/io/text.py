"""Text from HDF5: attributes and string columns arrive as ``bytes``, ``str`` or numpy arrays of either.

h5py hands back variable-length strings as ``bytes`` or ``str`` depending on how the writer stored them
(MatNWB, pynwb and h5py differ), so every reader turns them into ``str`` through this one function.
"""

from __future__ import annotations

import numpy as np


def as_str(value) -> str:
    """``value`` as text: bytes decoded as UTF-8 (bad bytes replaced), anything else through ``str``.

    Examples
    --------
    >>> as_str(b"CA1"), as_str("CA1"), as_str(np.int64(3))
    ('CA1', 'CA1', '3')
    """
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def as_str_array(values) -> np.ndarray:
    """An array of texts (numpy ``str``) from any sequence of bytes / str / numbers.

    Examples
    --------
    >>> as_str_array(np.array([b"a", b"b"], dtype=object))
    array(['a', 'b'], dtype='<U1')
    """
    return np.array([as_str(v) for v in values], dtype=str)


def first_str(value) -> str | None:
    """An HDF5 attribute that may be str, bytes or a 1-element array of either, as str (None stays None).

    Examples
    --------
    >>> first_str(np.array([b"2.7.0"])), first_str(None)
    ('2.7.0', None)
    """
    if value is None:
        return None
    if getattr(value, "shape", ()) != ():
        if not value.size:
            return None
        value = value.ravel()[0]
    return as_str(value)
