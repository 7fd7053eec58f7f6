"""Peer of the ingestion benchmark: DuckDB reading the same drop files into Parquet,
limited to the same number of threads as homedoc. (polars is not a peer here: its
CSV and JSON-lines readers stop at the first malformed line, which every drop has.)

    python3 ingest_peers.py THREADS CSV_GLOB JSONL_GLOB OUT_DIR

Prints one JSON object: for each format, seconds and rows written. Only
the work is timed (imports and connection set-up are not). DuckDB validates
nothing: it skips the lines it cannot parse and writes the rest.
"""

import json
import os
import sys
import time

threads, csv_glob, jsonl_glob, out_dir = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
import duckdb
import pyarrow.parquet as pq


def timed(work, out):
    if os.path.exists(out):
        os.remove(out)
    start = time.perf_counter()
    work(out)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": pq.ParquetFile(out).metadata.num_rows}


con = duckdb.connect()
con.execute(f"SET threads TO {int(threads)}")


def duck_csv(out):
    con.execute(
        f"COPY (SELECT * FROM read_csv('{csv_glob}', header = true, ignore_errors = true)) "
        f"TO '{out}' (FORMAT parquet)"
    )


def duck_jsonl(out):
    con.execute(
        f"COPY (SELECT * FROM read_json('{jsonl_glob}', format = 'newline_delimited', ignore_errors = true)) "
        f"TO '{out}' (FORMAT parquet)"
    )


result = {"threads": int(threads), "duckdb": duckdb.__version__}
for name, work in [("duckdb_csv", duck_csv), ("duckdb_jsonl", duck_jsonl)]:
    try:
        result[name] = timed(work, os.path.join(out_dir, name + ".parquet"))
    except Exception as e:  # a peer's failure is reported, not fatal to the bench
        result[name] = {"error": str(e).splitlines()[0]}
print(json.dumps(result))
