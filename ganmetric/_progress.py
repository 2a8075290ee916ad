"""Progress bars (tqdm on stderr), off unless asked for."""
from __future__ import annotations

from typing import Iterable


def progress_bar(iterable: Iterable, *, enable: bool, **kwargs):
    """Wrap ``iterable`` in a tqdm bar when ``enable``; otherwise return it unchanged."""
    if not enable:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, leave=False, dynamic_ncols=True, **kwargs)
