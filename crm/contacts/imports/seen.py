"""The register of what an import file has mentioned so far: key -> the first row that mentioned it.

It tells a row that repeats an earlier one ("gleiche Person wie Zeile 7") and rows of an
organization the file creates. A file of a million rows means two million keys, so the register
lives in a private temporary SQLite file (deleted when closed), not in memory: memory stays flat
however long the file is. Each batch fetches the keys it will ask about in one go (`prefetch`);
what the batch adds is written back at its end (`flush`).
"""
import json
import sqlite3
from typing import Iterable


class SeenRows:
    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a temporary file, removed on close
        self._db.execute("PRAGMA journal_mode = OFF")  # a scratch file: nothing to recover after a crash
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
        self._batch: dict[str, int | None] = {}  # the keys the batch asked about or added: their first row
        self._new: list[tuple[str, int]] = []

    def prefetch(self, keys: Iterable[str]) -> None:
        """Look up the earlier rows of `keys` at once (the batch will ask about them)."""
        wanted = sorted(set(keys) - self._batch.keys())  # in index order: fewer page visits
        self._batch.update(dict.fromkeys(wanted))
        self._batch.update(self._db.execute("SELECT key, row FROM seen WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(wanted),)))

    def get(self, key: str) -> int | None:
        """The first row that mentioned `key`, if any."""
        if key in self._batch:
            return self._batch[key]
        found = self._db.execute("SELECT row FROM seen WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def add(self, key: str, row: int) -> None:
        if self.get(key) is None:
            self._batch[key] = row
            self._new.append((key, row))

    def flush(self) -> None:
        """Write the batch's keys to the file and forget the batch."""
        with self._db:  # one transaction, not one per key
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO seen (key, row) VALUES (?, ?)", sorted(self._new))
        self._batch, self._new = {}, []

    def close(self) -> None:
        self._db.close()
