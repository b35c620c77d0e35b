"""The run store: one SQLite database per run folder, written as things happen.

Every evaluation (stage, canonical key, genotype JSON, fitness or failure, costs, wall
time), every generation of every searcher, every retraining and every finished stage
is a row, committed at once (WAL mode), so a killed run loses nothing it finished.
A resumed run reads them back: finished evaluations preload the searcher's cache,
finished retrainings and stages are not repeated. An exclusive lock on the folder
keeps a second process from writing the same run.

In a job of several processes (torchrun) only the main one holds the store; the
others work on a `private_copy` taken at the start, which they update in memory the
same way, so every process sees the same cache and skips the same finished work.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    genotype TEXT NOT NULL,
    fitness REAL,
    status TEXT NOT NULL,
    error TEXT,
    costs TEXT NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    UNIQUE (stage, key)
);
CREATE TABLE IF NOT EXISTS generations (
    stage TEXT NOT NULL,
    generation INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (stage, generation)
);
CREATE TABLE IF NOT EXISTS retrains (
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    genotype TEXT NOT NULL,
    metrics TEXT NOT NULL,
    costs TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (stage, key)
);
CREATE TABLE IF NOT EXISTS stages (
    stage TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


STORE_FILE = "runs.sqlite"


class RunInUseError(RuntimeError):
    """Another process holds the run folder's lock."""


class StoreError(ValueError):
    """The folder's runs.sqlite cannot be read as a run store (not a database, damaged,
    or not written by archsearch); the message names the file."""


def store_error(path: Path, error: sqlite3.DatabaseError) -> StoreError:
    """The one-paragraph error for an unreadable store file."""
    return StoreError(
        f"{path} cannot be read as a run store ({error}): it is not an SQLite database "
        "written by archsearch, or it is damaged. Give a folder that `archsearch run` "
        "wrote, or move the file away to start the run afresh"
    )


class RunStore:
    """The database and lock of one run folder (use as a context manager)."""

    def __init__(self, run_dir: str | Path, readonly: bool = False) -> None:
        """Open (creating) the store; `readonly` skips the lock, for reports and listings."""
        self.run_dir = Path(run_dir)
        self._lock = None
        if readonly:
            path = self.run_dir / STORE_FILE
            if not path.exists():
                raise FileNotFoundError(f"{self.run_dir} is not a run folder (no {STORE_FILE})")
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            try:  # sqlite reads the file lazily: a foreign file fails on the first query
                tables = {t for (t,) in self.db.execute("SELECT name FROM sqlite_master")}
            except sqlite3.DatabaseError as error:
                self.db.close()
                raise store_error(path, error) from None
            if "evaluations" not in tables:
                self.db.close()
                raise StoreError(
                    f"{path} is an SQLite database but not a run store (it has no "
                    "evaluations table); give a folder that `archsearch run` wrote"
                )
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.run_dir / ".lock", "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            owner = self._lock.read().strip() or "another process"
            self._lock.close()
            raise RunInUseError(
                f"run folder {self.run_dir} is in use by {owner}; wait for it to finish, or "
                "choose another folder with --out"
            ) from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"process {os.getpid()}")
        self._lock.flush()
        try:
            self.db = sqlite3.connect(self.run_dir / STORE_FILE, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            if hasattr(self, "db"):
                self.db.close()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            raise store_error(self.run_dir / STORE_FILE, error) from None

    @classmethod
    def private_copy(cls, run_dir: str | Path) -> RunStore:
        """An in-memory copy of the folder's store (empty when it has none yet): written
        like the real one, never saved, no lock. For the non-main processes of a job."""
        store = cls.__new__(cls)
        store.run_dir, store._lock = Path(run_dir), None
        store.db = sqlite3.connect(":memory:", isolation_level=None)
        path = store.run_dir / STORE_FILE
        if path.exists():
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(store.db)
            except sqlite3.DatabaseError as error:
                raise store_error(path, error) from None
            finally:
                source.close()
        store.db.executescript(SCHEMA)
        return store

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------

    def record_evaluation(
        self,
        stage: str,
        key: str,
        genotype: Mapping[str, Any],
        fitness: float | None,
        error: str | None,
        seconds: float,
        costs: Mapping[str, float],
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO evaluations (stage, key, genotype, fitness, status, error,"
            " costs, seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stage,
                key,
                json.dumps(genotype),
                fitness,
                "ok" if error is None else "failed",
                error,
                json.dumps(dict(costs)),
                seconds,
                time.time(),
            ),
        )

    def record_generation(self, stage: str, generation: int, record: Mapping[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO generations (stage, generation, record) VALUES (?, ?, ?)",
            (stage, generation, json.dumps(record)),
        )

    def record_retrain(
        self,
        stage: str,
        key: str,
        genotype: Mapping[str, Any],
        metrics: Mapping[str, float],
        costs: Mapping[str, float],
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO retrains (stage, key, genotype, metrics, costs, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                stage,
                key,
                json.dumps(genotype),
                json.dumps(dict(metrics)),
                json.dumps(dict(costs)),
                time.time(),
            ),
        )

    def finish_stage(self, stage: str, result: Mapping[str, Any]) -> None:
        position = self.db.execute("SELECT COUNT(*) FROM stages").fetchone()[0]
        self.db.execute(
            "INSERT OR REPLACE INTO stages (stage, position, result, created) VALUES (?, ?, ?, ?)",
            (stage, position, json.dumps(result), time.time()),
        )

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    # ---- reading -------------------------------------------------------------------------

    def evaluations(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Evaluations in the order they happened (optionally of one stage)."""
        query = (
            "SELECT stage, key, genotype, fitness, status, error, costs, seconds FROM evaluations"
        )
        rows = self.db.execute(
            query + (" WHERE stage = ?" if stage else "") + " ORDER BY id",
            (stage,) if stage else (),
        )
        return [
            {
                "stage": s,
                "key": k,
                "genotype": json.loads(g),
                "fitness": f,
                "status": st,
                "error": e,
                "costs": json.loads(c),
                "seconds": sec,
            }
            for s, k, g, f, st, e, c, sec in rows
        ]

    def cached_fitness(self, stage: str) -> dict[str, float | None]:
        """{key: fitness or None for failures} of a stage: what a resumed searcher preloads."""
        rows = self.db.execute("SELECT key, fitness FROM evaluations WHERE stage = ?", (stage,))
        return dict(rows.fetchall())

    def generations(self, stage: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT stage, generation, record FROM generations"
        rows = self.db.execute(
            query + (" WHERE stage = ?" if stage else "") + " ORDER BY rowid",
            (stage,) if stage else (),
        )
        return [{"stage": s, "generation": g, **json.loads(r)} for s, g, r in rows]

    def retrain(self, stage: str, key: str) -> dict[str, float] | None:
        row = self.db.execute(
            "SELECT metrics FROM retrains WHERE stage = ? AND key = ?", (stage, key)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def retrains(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT stage, key, genotype, metrics, costs FROM retrains ORDER BY created"
        )
        return [
            {
                "stage": s,
                "key": k,
                "genotype": json.loads(g),
                "metrics": json.loads(m),
                "costs": json.loads(c),
            }
            for s, k, g, m, c in rows
        ]

    def stage_result(self, stage: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT result FROM stages WHERE stage = ?", (stage,)).fetchone()
        return None if row is None else json.loads(row[0])

    def stages(self) -> list[str]:
        return [s for (s,) in self.db.execute("SELECT stage FROM stages ORDER BY position")]

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def top(self, k: int = 10, stage: str | None = None) -> list[dict[str, Any]]:
        """The k best successful evaluations (by fitness), optionally of one stage."""
        rows = [e for e in self.evaluations(stage) if e["fitness"] is not None]
        return sorted(rows, key=lambda e: -e["fitness"])[:k]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.evaluations())
