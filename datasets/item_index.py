"""A dataset version's item ids in worker memory, compact enough for millions, so that predictions can be
COPYed straight into their table with their item's key (models_app/services/prediction_copy.py).

A dict of the ids costs about ten times as much (docs/bench-ingest.md, "Figures the code's comments point to"); this
holds each item in 12 bytes: its id's 64-bit `hash()` in a sorted array and its primary key beside it. Python's str hash
is SipHash, keyed at random per process unless PYTHONHASHSEED fixes the key. Two items of the version whose hashes
collide make `load` return None and the caller takes the exact path. A wrong id could still meet an item's hash: for one
such id the chance is (items in the version) / 2**64, 5e-14 for a million items, and every other wrong id of the file
must meet one too or the upload goes the exact way. The uploader names the items anyway, so a collision could not reach
data they could not already write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connection

from core.lazy import lazy_module
from core.rawsql import sql_naming
from datasets.models import Item

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

FETCH_ROWS = 100_000
SEPARATOR = "\x1f"  # joins a chunk's ids into one string; an id holding it sends the version the exact way

# One chunk in one row: the ids joined and the keys as an array cost psycopg two values, not a tuple per item.
# Keyset on the unique (version, external_id) index; both aggregates read the ordered subquery in one pass.
CHUNK_SQL = sql_naming(
    "SELECT string_agg({Item.external_id}, E'\\x1f'), array_agg({Item.id}) FROM ("
    "SELECT {Item.external_id}, {Item.id} FROM {Item} WHERE {Item.version} = %s AND {Item.external_id} > %s "
    "ORDER BY {Item.external_id} LIMIT %s) chunk",
    Item=Item,
)


class ItemIndex:
    def __init__(self, hashes: np.ndarray, keys: np.ndarray, base: int):
        self._hashes, self._keys, self._base = hashes, keys, base

    def __len__(self) -> int:
        return len(self._hashes)

    @classmethod
    def load(cls, version_id: int, expected: int = 0) -> ItemIndex | None:
        """The items of one dataset version; None if two of their ids share a hash, an id holds the separator,
        or their keys span more than 2**31 (then the exact path serves)."""
        hashes = np.empty(max(expected, 1), np.int64)
        keys = np.empty(max(expected, 1), np.int32)  # primary key minus the first one seen
        base, n, after = None, 0, ""
        with connection.cursor() as cursor:
            while True:
                cursor.execute(CHUNK_SQL, [version_id, after, FETCH_ROWS])
                joined, pks = cursor.fetchone()
                if not pks:
                    break
                ids = joined.split(SEPARATOR)
                if len(ids) != len(pks):
                    return None
                if n + len(ids) > len(hashes):  # more items than the version says: grow, stay correct
                    hashes, keys = np.resize(hashes, 2 * (n + len(ids))), np.resize(keys, 2 * (n + len(ids)))
                base = pks[0] if base is None else base
                offsets = np.array(pks, np.int64) - base
                if offsets.min() < -(2**31) or offsets.max() >= 2**31:
                    return None
                hashes[n : n + len(ids)] = np.fromiter(map(hash, ids), np.int64, len(ids))
                keys[n : n + len(ids)] = offsets
                n += len(ids)
                after = ids[-1]
        order = np.argsort(hashes[:n], kind="stable")
        hashes = hashes[order]
        keys = keys[order]
        del order
        if n > 1 and bool((hashes[1:] == hashes[:-1]).any()):
            return None
        return cls(hashes, keys, base or 0)

    def lookup(self, external_ids: Sequence[str]) -> list[int] | None:
        """The item keys of these ids, in their order; None if any id is not one of the version's items."""
        if not len(self._hashes):
            return None
        wanted = np.fromiter(map(hash, external_ids), np.int64, len(external_ids))
        order = np.argsort(wanted)  # sorted needles: each search starts near the last, in cache
        at = np.empty_like(order)
        at[order] = np.searchsorted(self._hashes, wanted[order])
        at[at == len(self._hashes)] = 0  # beyond the last: compared below, and unequal
        if not bool((self._hashes[at] == wanted).all()):
            return None
        return (self._keys[at].astype(np.int64) + self._base).tolist()
