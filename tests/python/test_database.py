"""The tuning-record database through tessel.database: round trip, queries against a plain-Python
reference, target separation, JSON-lines export/import with corrupt lines, refusal of files that are
not Tessel databases (bytes unchanged), read-only opening, cost-model snapshots, and a real tuning
run writing into a database path."""
import json
import math
import random
import sqlite3

import pytest

import tessel
from tessel import te

database = pytest.importorskip("tessel.database")
Database = database.Database

TARGET_A = "llvm -mtriple=x86_64-unknown-linux-gnu -mcpu=skylake-avx512 -mattr="
TARGET_B = "llvm -mtriple=aarch64-linux-gnu -mcpu=generic -mattr="


def steps_json(tag: int) -> str:
    return json.dumps({"version": 1, "steps": [{"kind": "split", "stage": 1, "axes": [0], "ints": [tag, 3]},
                                               {"kind": "parallel", "stage": 1, "axes": [0]}]})


def make_record(key, target, tag, costs, error=0):
    return {"workload_key": key, "task_name": "task_" + key, "target": target,
            "hardware": {"num_cores": 3 + tag % 4, "vector_bits": 256, "l1_bytes": 49152,
                         "l2_bytes": 1048576 + tag, "l3_bytes": 33554432},
            "steps": steps_json(tag), "costs": list(costs), "error": error,
            "timestamp": 1700000000.5 + tag, "version": 1}


def mean(record):
    if record["error"] != 0 or not record["costs"]:
        return math.inf
    return sum(record["costs"]) / len(record["costs"])


def same(got, want):
    for field in ("workload_key", "task_name", "target", "hardware", "costs", "error", "timestamp", "version"):
        assert got[field] == want[field], field
    assert json.loads(got["steps"]) == json.loads(want["steps"])
    assert got["mean_seconds"] == mean(want)


def test_round_trip_and_queries_match_reference(tmp_path):
    path = tmp_path / "sub" / "dir" / "tuning.db"
    db = Database(str(path))
    assert db.path == str(path) and path.exists() and not db.read_only
    rng = random.Random(7)
    records = []
    for i in range(61):
        key = rng.choice(["conv", "dense", "softmax"])
        target = TARGET_A if rng.random() < 0.7 else TARGET_B
        error = 3 if rng.random() < 0.2 else 0
        costs = [] if error else [rng.uniform(1e-5, 1e-2) for _ in range(rng.randint(1, 3))]
        records.append(make_record(key, target, i, costs, error))
    db.add_records(records[:30])
    db.add_records(records[30:])
    db.add_workload("conv", "ignored", "the conv DAG")

    stored = Database(str(path)).records()
    assert len(stored) == len(records)
    for got, want in zip(stored, records):
        same(got, want)
    assert stored[0]["error_name"] == "none"
    assert all(r["error_name"] == "runtime" for r in stored if r["error"] == 3)
    assert len(db.records(limit=5)) == 5

    assert db.count() == 61
    for key in ["conv", "dense", "softmax", "missing"]:
        assert db.count(key) == sum(r["workload_key"] == key for r in records)
        for target in [TARGET_A, TARGET_B]:
            mine = [r for r in records if r["workload_key"] == key and r["target"] == target]
            valid = sorted((r for r in mine if math.isfinite(mean(r))), key=mean)
            assert db.count(key, target) == len(mine)
            top = db.top_k(key, target, 4)
            assert len(top) == min(4, len(valid))
            for got, want in zip(top, valid):
                same(got, want)
            best = db.best(key, target)
            assert (best is None) == (not valid)
            if valid:
                same(best, valid[0])
                assert best["target"] == target  # never a record of the other target

    workloads = {w["workload_key"]: w for w in db.workloads()}
    assert set(workloads) == {"conv", "dense", "softmax"}
    for key, w in workloads.items():
        mine = [r for r in records if r["workload_key"] == key]
        assert w["records"] == len(mine)
        assert w["valid"] == sum(math.isfinite(mean(r)) for r in mine)
        assert w["best_seconds"] == min([mean(r) for r in mine] + [math.inf])
        assert set(w["targets"]) == {r["target"] for r in mine}
        assert w["task_name"] == "task_" + key
    assert workloads["conv"]["dag_text"] == "the conv DAG"
    for r in db.best_records(TARGET_B):
        assert r["target"] == TARGET_B


def test_short_target_names_match_the_host():
    host = database.canonical_target("llvm")
    assert host.startswith("llvm -mtriple=")
    assert database.canonical_target(host) == host
    assert database.canonical_target(None) == ""


def test_target_separation(tmp_path):
    db = Database(str(tmp_path / "t.db"))
    host = database.canonical_target("llvm")
    other = TARGET_B if host != TARGET_B else TARGET_A
    db.add_records([make_record("w", other, 1, [1e-9]), make_record("w", "llvm", 2, [3e-3]),
                    make_record("w", "llvm", 3, [2e-3])])
    best = db.best("w", "llvm")
    assert best["target"] == host and best["costs"] == [2e-3]
    assert db.best("w", other)["costs"] == [1e-9]
    assert db.best("w", "llvm -mtriple=riscv64-unknown-linux-gnu -mcpu=generic-rv64") is None
    assert [r["costs"] for r in db.top_k("w", "llvm", 5)] == [[2e-3], [3e-3]]


def test_export_import_with_corrupt_lines(tmp_path):
    src = Database(str(tmp_path / "src.db"))
    records = [make_record("a" if i % 2 else "b", TARGET_A, i, [1e-3 * (i + 1)], 4 if i == 3 else 0)
               for i in range(7)]
    src.add_records(records)
    out = tmp_path / "all.jsonl"
    assert src.export_jsonl(str(out)) == 7
    assert src.export_jsonl(str(tmp_path / "a.jsonl"), workload_key="a") == 3
    lines = out.read_text().splitlines()
    assert len(lines) == 7
    for line, want in zip(lines, records):
        parsed = json.loads(line)
        assert parsed["version"] == 1 and parsed["workload_key"] == want["workload_key"]
        assert parsed["costs"] == want["costs"] and parsed["error"] == want["error"]

    newer = json.loads(lines[0])
    newer["version"] = 99
    wrong_types = json.loads(lines[1])
    wrong_types["costs"] = "fast"
    no_key = json.loads(lines[2])
    del no_key["workload_key"]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines[:4]) + "\n"
                     + "%%% garbage %%%\n\n"
                     + json.dumps(newer) + "\n" + json.dumps(wrong_types) + "\n" + json.dumps(no_key) + "\n"
                     + "\n".join(lines[4:]) + "\n"
                     + lines[2] + "\n"               # duplicate
                     + lines[5][: len(lines[5]) // 3])  # truncated last line
    dst = Database(str(tmp_path / "dst.db"))
    dst.add_records([records[6]])                  # already stored
    stats = dst.import_jsonl(str(mixed))
    assert stats == {"imported": 6, "duplicates": 2, "corrupt": 5}
    assert dst.count() == 7
    for key in ["a", "b"]:
        same(dst.best(key, TARGET_A), src.best(key, TARGET_A))
    assert dst.import_jsonl(str(out)) == {"imported": 0, "duplicates": 7, "corrupt": 0}
    with pytest.raises(tessel.TesselError):
        dst.import_jsonl(str(tmp_path / "missing.jsonl"))


def refused(path, reason):
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(tessel.TesselError, match=reason) as info:
            Database(str(path), read_only=read_only)
        assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_corrupt_and_foreign_files_are_refused_unchanged(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(random.Random(1).getrandbits(8) for _ in range(5000)))
    refused(junk, "not an SQLite file")

    real = tmp_path / "real.db"
    db = Database(str(real))
    db.add_records([make_record("w%d" % (i % 5), TARGET_A, i, [1e-3]) for i in range(400)])
    del db
    data = real.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    refused(truncated, "corrupt")

    other = tmp_path / "other.db"
    con = sqlite3.connect(str(other))
    con.execute("CREATE TABLE records(x)")
    con.execute("INSERT INTO records VALUES (1)")
    con.commit()
    con.close()
    refused(other, "another application")

    newer = tmp_path / "newer.db"
    newer.write_bytes(data)
    con = sqlite3.connect(str(newer))
    con.execute("PRAGMA user_version = 7")
    con.close()
    refused(newer, "schema version 7")
    assert Database(str(real)).count() == 400


def test_read_only_and_default_path(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such.db"
    db = Database(str(missing), read_only=True)
    assert db.read_only and db.count() == 0 and db.records() == [] and db.workloads() == []
    assert db.best("w", "llvm") is None
    with pytest.raises(tessel.TesselError, match="read-only"):
        db.add_records([make_record("w", "llvm", 1, [1e-3])])
    assert not (tmp_path / "no").exists()

    env_db = tmp_path / "env" / "tuning.db"
    monkeypatch.setenv("TESSEL_DB", str(env_db))
    assert database.default_database_path() == str(env_db)
    assert Database().path == str(env_db) and env_db.exists()
    monkeypatch.delenv("TESSEL_DB")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert database.default_database_path() == str(tmp_path / "home" / ".cache" / "tessel" / "tuning.db")


def test_cost_model_snapshots(tmp_path):
    db = Database(str(tmp_path / "cm.db"))
    assert db.latest_cost_model("llvm", "xgboost") is None
    blob = bytes(range(256)) * 100
    db.put_cost_model("llvm", "xgboost", b"old")
    db.put_cost_model("llvm", "xgboost", blob)
    assert Database(str(tmp_path / "cm.db")).latest_cost_model("llvm", "xgboost") == blob
    assert db.latest_cost_model("llvm", "random") is None


def test_tuning_into_a_database_path(tmp_path):
    from tessel import autotune
    m, n, k = 7, 13, 5
    A = te.placeholder((m, k), "float32", name="A")
    B = te.placeholder((k, n), "float32", name="B")
    r = te.reduce_axis((0, k), name="k")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    task = autotune.Task.from_compute(C, target="llvm")
    path = str(tmp_path / "tune.db")
    autotune.tune([task], trials=4, records=path, seed=3, batch_size=4, repeat=1, min_repeat_seconds=0.001,
                  verbose=False, cost_model="random")
    db = Database(path, read_only=True)
    # 4 trials (the first is the default schedule), then the best 3 valid schedules and the
    # default measured again; the best is one of those re-measurements.
    records = db.records(task.workload_key, "llvm")
    first = sorted((r["mean_seconds"], r["steps"]) for r in records[:4] if r["error"] == 0)
    confirmed = [steps for _, steps in first[:3]] if len(first) >= 2 else []
    if confirmed and records[0]["error"] == 0 and records[0]["steps"] not in confirmed:
        confirmed.append(records[0]["steps"])
    assert [r["steps"] for r in records[4:4 + len(confirmed)]] == confirmed
    assert all(r["steps"] in [t["steps"] for t in records[:4]] for r in records[4:])  # no new schedule
    best = db.best(task.workload_key, "llvm")
    if confirmed:
        # A re-measurement, not a first timing.
        assert any(best["steps"] == r["steps"] and best["mean_seconds"] == r["mean_seconds"] for r in records[4:])
    assert best is not None and best["error"] == 0
    assert task.best(path)[1] == pytest.approx(best["mean_seconds"])


def test_a_database_is_one_open_record_store(tmp_path):
    """tessel.database.Database opens its file once, as a record store that the auto-scheduler
    takes as it is; its queries and a JSON-lines store's agree on the same records."""
    from tessel import autotune, _tessel

    opened = _tessel.autotune.RecordStore.opened_count
    before = opened()
    db = Database(str(tmp_path / "one.db"))
    assert opened() - before == 1
    assert autotune.open_records(db=db) is db.store and opened() - before == 1
    records = [make_record("w", TARGET_A, i, [1e-3 * (3 - i)]) for i in range(3)]
    db.add_records(records)
    lines = autotune.open_records(str(tmp_path / "same.jsonl"))
    lines.add_jsonl_lines([database._record_line(r) for r in records])
    for store in (db.store, lines):
        assert store.count("w", TARGET_A) == 3
        assert [r["costs"] for r in store.top_k("w", TARGET_A, 2)] == [[1e-3], [2e-3]]
    assert db.best("w", TARGET_A)["costs"] == [1e-3]
    with pytest.raises(tessel.TesselError, match="JSON-lines"):
        Database(str(tmp_path / "not_a_db.jsonl"))
