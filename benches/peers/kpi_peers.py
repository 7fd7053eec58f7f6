#!/usr/bin/env python3
"""homedoc's KPIs computed again, independently of the engine, by DuckDB and by polars.

Reads only the Parquet files that each Delta table's log lists (through the deltalake
package), rebuilds each entity's latest version from the change-feed rows, turns
instants into Vietnam's calendar days (UTC+7, no daylight saving) and counts per
province of the 34 set for one range of days. Prints one JSON document:

    {"versions": {...}, "duckdb": {KPI: {PROVINCE: value}}, "polars": {...}}

The latest version of an account, appointment or call is its row with the largest
feed `seq` (the store gives each change the next seq and the next version of its
entity in one transaction). Each engine finds those rows once, with only the columns
the KPIs read, and runs the KPIs over them: at national scale (142 M appointment rows)
a window or a full sort over every column per query does not fit in memory.

With --timing, also the seconds each engine took (reading the Delta logs included,
Python's start-up not), best of --trials runs, under "seconds".

Usage: kpi_peers.py LAKE_DIR FIRST_DAY LAST_DAY [--threads N] [--timing] [--trials N]
"""
import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time

# The machine's two cores, as for homedoc's engine and DuckDB (`--threads`); polars
# reads this once, when it is imported.
os.environ.setdefault("POLARS_MAX_THREADS", "2")

import deltalake
import duckdb
import polars as pl

KPIS = ["accounts_registered", "appointments_booked", "appointments_completed", "no_show_rate",
        "video_calls", "health_workers_trained"]
LOCAL = dt.timedelta(hours=7)


def files(lake, table):
    return deltalake.DeltaTable(f"{lake}/{table}").file_uris()


def with_duckdb(lake, first, last, threads, spill):
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{spill}'")
    for t in ["accounts", "appointments", "video_calls", "facilities", "training_attendance"]:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({files(lake, t)!r})")

    def latest(name, t, key, cols, where="TRUE"):
        con.execute(f"""CREATE TEMP TABLE {name} AS SELECT {', '.join(cols)} FROM {t}
            WHERE seq IN (SELECT max(seq) FROM {t} GROUP BY {key}) AND {where}""")

    latest("account_now", "accounts", "account_key", ["home_station", "created_at"])
    latest("appt_now", "appointments", "appointment_id",
           ["status", "station", "rescheduled_from", "booked_at", "slot_start"], "status <> 'entered-in-error'")
    latest("call_now", "video_calls", "call_id", ["caller_station", "started_at"])
    # Reference data: a few thousand rows, latest by version as it is defined.
    con.execute("""CREATE TEMP TABLE prov AS SELECT code, province_34 FROM facilities
        QUALIFY row_number() OVER (PARTITION BY code ORDER BY version DESC, seq DESC) = 1""")
    day = lambda col: f"CAST({col} + INTERVAL 7 HOUR AS DATE)"
    between = f"BETWEEN DATE '{first}' AND DATE '{last}'"
    queries = {
        "accounts_registered": f"""SELECT f.province_34, count(*) FROM account_now a
            JOIN prov f ON f.code = a.home_station WHERE {day('a.created_at')} {between} GROUP BY 1""",
        "appointments_booked": f"""SELECT f.province_34, count(*) FROM appt_now a JOIN prov f ON f.code = a.station
            WHERE a.rescheduled_from IS NULL AND {day('a.booked_at')} {between} GROUP BY 1""",
        "appointments_completed": f"""SELECT f.province_34, count(*) FROM appt_now a JOIN prov f ON f.code = a.station
            WHERE a.status = 'fulfilled' AND {day('a.slot_start')} {between} GROUP BY 1""",
        "no_show_rate": f"""SELECT f.province_34, 100.0 * count(*) FILTER (WHERE a.status = 'noshow') / count(*)
            FROM appt_now a JOIN prov f ON f.code = a.station
            WHERE a.status IN ('fulfilled', 'noshow') AND {day('a.slot_start')} {between} GROUP BY 1""",
        "video_calls": f"""SELECT f.province_34, count(*) FROM call_now v
            JOIN prov f ON f.code = v.caller_station WHERE {day('v.started_at')} {between} GROUP BY 1""",
        "health_workers_trained": f"""SELECT f.province_34, count(DISTINCT t.staff_code) FROM training_attendance t
            JOIN prov f ON f.code = t.facility
            WHERE t.completed_at IS NOT NULL AND {day('t.completed_at')} {between} GROUP BY 1""",
    }
    out = {k: {p: float(v) for p, v in con.execute(q).fetchall()} for k, q in queries.items()}
    con.close()
    return out


def with_polars(lake, first, last):
    scan = lambda t: pl.scan_parquet(files(lake, t))
    day = lambda col: (pl.col(col).dt.replace_time_zone(None) + LOCAL).dt.date()

    def latest(t, key, cols):
        rows = scan(t)
        last_seq = rows.group_by(key).agg(pl.col("seq").max())
        return rows.join(last_seq.select("seq"), on="seq", how="semi").select(cols).collect(engine="streaming").lazy()

    prov = (scan("facilities").sort(["version", "seq"], descending=True).unique(subset=["code"], keep="first")
            .select(["code", "province_34"]).collect().lazy())
    inside = lambda col: day(col).is_between(first, last)
    appts = latest("appointments", "appointment_id",
                   ["status", "station", "rescheduled_from", "booked_at", "slot_start"]
                   ).filter(pl.col("status") != "entered-in-error")

    def per_province(frame, station, agg):
        out = frame.join(prov, left_on=station, right_on="code").group_by("province_34").agg(agg.alias("v"))
        return {p: float(v) for p, v in out.collect().iter_rows()}

    count = pl.len()
    return {
        "accounts_registered": per_province(
            latest("accounts", "account_key", ["home_station", "created_at"]).filter(inside("created_at")),
            "home_station", count),
        "appointments_booked": per_province(
            appts.filter(pl.col("rescheduled_from").is_null() & inside("booked_at")), "station", count),
        "appointments_completed": per_province(
            appts.filter((pl.col("status") == "fulfilled") & inside("slot_start")), "station", count),
        "no_show_rate": per_province(
            appts.filter(pl.col("status").is_in(["fulfilled", "noshow"]) & inside("slot_start")), "station",
            100.0 * (pl.col("status") == "noshow").sum() / pl.len()),
        "video_calls": per_province(
            latest("video_calls", "call_id", ["caller_station", "started_at"]).filter(inside("started_at")),
            "caller_station", count),
        "health_workers_trained": per_province(
            scan("training_attendance").filter(pl.col("completed_at").is_not_null() & inside("completed_at")),
            "facility", pl.col("staff_code").n_unique()),
    }


def main():
    a = argparse.ArgumentParser()
    a.add_argument("lake")
    a.add_argument("first", type=dt.date.fromisoformat)
    a.add_argument("last", type=dt.date.fromisoformat)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--timing", action="store_true")
    a.add_argument("--trials", type=int, default=3)
    args = a.parse_args()
    # DuckDB spills what does not fit in memory here, and it goes with the process.
    spill = tempfile.mkdtemp(prefix="kpi-peers-duckdb-")
    versions = {"duckdb": duckdb.__version__, "polars": pl.__version__, "deltalake": deltalake.__version__}
    out = {"versions": versions}
    seconds = {}
    runs = {
        "duckdb": lambda: with_duckdb(args.lake, args.first, args.last, args.threads, spill),
        "polars": lambda: with_polars(args.lake, args.first, args.last),
    }
    for name, run in runs.items():
        best = None
        for _ in range(args.trials if args.timing else 1):
            started = time.perf_counter()
            out[name] = run()
            took = time.perf_counter() - started
            best = took if best is None else min(best, took)
        seconds[name] = best
    if args.timing:
        out["seconds"] = seconds
    shutil.rmtree(spill, ignore_errors=True)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
    # The readers' native threads sometimes abort the interpreter's teardown on a
    # loaded machine after the answer is printed: leave without one.
    import sys

    sys.stdout.flush()
    os._exit(0)
