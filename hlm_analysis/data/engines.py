"""SQL engines the data stage can hand the reading to: DuckDB (embedded, the default) and Spark
(a cluster, or `local[*]`). Both run the same queries (aggregate.py writes them once); what
differs between their SQL dialects is here and only here: identifier and string quoting, the
row hash of the figures' sample, how a scan's answer is kept for the queries after it (a
temporary table, a checkpointed DataFrame), and how files become the `src` view.

Every query that reads the data (a scan of the files) runs inside `Engine.scan(label)`, which
notes its label and seconds in `Engine.scans` and, when HLM_SCAN_LOG names a file, appends them
there (how `make bench` counts a fit's scans from outside its process).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..errors import InputError, ToolError
from ..spec import quoted, shown
from .files import check_memory_size, csv_part_problem, nfc
from .source import Source

if TYPE_CHECKING:  # frames come back as pandas; it is imported when the first does
    import pandas as pd

ENGINES = ("duckdb", "spark")
# What a CSV reader is told a null looks like: no cell is, so an empty cell is the text ''
# and only `missing_values:` makes a cell missing (as the in-memory readers do).
NO_NULL = "\x01hlm-report: no cell is null\x01"
# DuckDB spills to disk beyond this; what it holds is group-level, so 1 GB is generous.
DUCKDB_MEMORY = os.environ.get("HLM_DUCKDB_MEMORY", "1GB")
# a file each scan's label and seconds are appended to, one tab-separated line per scan
SCAN_LOG = "HLM_SCAN_LOG"
# a file Spark's JVM writes its own output to (its log4j lines); default: a temporary file
SPARK_LOG = "HLM_SPARK_LOG"


class Engine:
    name = ""

    def __init__(self) -> None:
        self.scans: list[tuple[str, float]] = []
        self._source: Source | None = None  # what load() read: to name a part an error is in
        # used columns some parts store as integers and others as floats (read as doubles): an
        # id among them is named as the integer parts write it ('1', not '1.0')
        self.int_and_float: frozenset[str] = frozenset()

    @contextmanager
    def scan(self, label: str) -> Iterator[None]:
        """Mark the queries inside as one scan of the data (one Spark job each), timed."""
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.scans.append((label, seconds))
            log = os.environ.get(SCAN_LOG)
            if log:
                with open(log, "a", encoding="utf-8") as out:
                    out.write(f"{label}\t{seconds:.6f}\n")

    def load(self, source: Source, used: list[str]) -> dict[str, str]:
        """Make the files the `src` view, whose column s{i} is used[i] matched by name (in NFC)
        in each part's own header, whatever its position there; return each used column's
        kind: number, text or bool. Every cell of a CSV is text as written: an empty cell is
        the text '' (missing only when `missing_values:` lists it, as in memory)."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def nfc(self, refs: dict[str, str], relation: str) -> dict[str, str]:
        """For each text column (name -> its SQL in `relation`), SQL giving its cells in
        Unicode's composed form (NFC), as the in-memory path codes levels and group ids."""
        raise NotImplementedError

    def frame(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def keep(self, name: str, sql: str) -> None:
        """Run `sql` now and keep its (small) answer as the relation `name`, so that several
        queries read what one scan gave."""
        raise NotImplementedError

    def register(self, name: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # dialect
    def quote(self, name: str) -> str:
        raise NotImplementedError

    def literal(self, text: str) -> str:
        raise NotImplementedError

    text_type = "VARCHAR"

    def row_hash(self, columns: list[str], seed: int) -> str:
        raise NotImplementedError

    def collect_rows(self, columns: list[str], condition: str) -> dict[str, str]:
        """Aggregates (name -> SQL) keeping the rows where `condition` holds."""
        raise NotImplementedError

    def unnest_rows(self, relation: str, columns: list[str]) -> str:
        """A query giving the rows collect_rows' aggregates kept in `relation` back."""
        raise NotImplementedError

    # the row hash is uniform on [hash_low, hash_low + 2^64)
    hash_low = 0

    def hash_threshold(self, fraction: float) -> int:
        """The value a row hash is below with probability `fraction`."""
        return int(self.hash_low + min(max(fraction, 0.0), 1.0) * (2**64 - 1))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _kind_of(type_name: str) -> str:
    t = type_name.upper()
    if t.startswith("BOOL"):
        return "bool"
    # DuckDB's and Spark's names of integer, floating and decimal types (INT covers INTEGER)
    numbers = ("TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
               "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL",
               "BYTE", "SHORT", "LONG")  # fmt: skip
    if t.startswith(numbers):
        return "number"
    return "text"


class DuckDB(Engine):
    name = "duckdb"

    def __init__(self) -> None:
        import duckdb  # imported here: only the engine path needs it

        super().__init__()
        check_memory_size(DUCKDB_MEMORY)
        self._spill = tempfile.mkdtemp(prefix="hlm-duckdb-")
        self.con = duckdb.connect(
            config={
                "memory_limit": DUCKDB_MEMORY,
                "temp_directory": self._spill,
                "preserve_insertion_order": False,
            }
        )
        self._error = duckdb.Error
        self.con.execute("SET enable_progress_bar = false")  # no bar on a terminal mid-report
        # DuckDB (2.0) folds isnan(x) to false when Parquet statistics give x finite bounds, but
        # those bounds leave NaN out: a NaN would be read as a number. Without the statistics
        # propagation it is NaN (missing, as in memory); the passes here run no slower.
        self.con.execute("SET disabled_optimizers = 'statistics_propagation'")

    def load(self, source: Source, used: list[str]) -> dict[str, str]:
        self._source = source
        selects = []
        reads = [  # DuckDB reads every file of one read_parquet as the type the first gives
            (positions, types, files)
            for positions, group in source.positions(used)
            for types, files in (
                source.by_types(group, positions).items()
                if source.format == "parquet"
                else [((), group)]
            )
        ]
        casts = _duckdb_casts([types for _, types, _ in reads], len(used))
        self.int_and_float = frozenset(
            c
            for i, c in enumerate(used)
            if casts[i] == "DOUBLE"
            and any(t[i].startswith(("int", "uint")) for _, t, _ in reads if t)
        )
        for positions, _, files in reads:
            listed = "[" + ", ".join(self.literal(str(f)) for f in files) + "]"
            if source.format == "parquet":
                reader = f"read_parquet({listed})"
            else:  # own names for the header's columns: DuckDB matches names without case
                width = len(source.headers[source.files.index(files[0])])
                names = ", ".join(f"'h{j}'" for j in range(width))
                reader = (
                    f"read_csv({listed}, header = true, all_varchar = true, names = [{names}], "
                    f"nullstr = {self.literal(NO_NULL)})"
                )
            columns = ", ".join(
                f"CAST(#{j + 1} AS {casts[i]}) AS s{i}" if casts[i] else f"#{j + 1} AS s{i}"
                for i, j in enumerate(positions)
            )
            selects.append(f"SELECT {columns} FROM {reader}")
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMPORARY VIEW src AS " + " UNION ALL ".join(selects)
            )
            described = self.con.execute("DESCRIBE src").fetchall()
        except self._error as exc:
            raise _part_error(exc, source) or InputError(
                f"data {source.label} could not be read: {_first_line(exc)}"
            ) from None
        kinds = {row[0]: _kind_of(row[1]) for row in described}
        return {c: kinds[f"s{i}"] for i, c in enumerate(used)}

    def execute(self, sql: str) -> None:
        self._run(sql)

    def nfc(self, refs: dict[str, str], relation: str) -> dict[str, str]:
        return {c: f"nfc_normalize({ref})" for c, ref in refs.items()}

    def frame(self, sql: str) -> pd.DataFrame:
        return self._run(sql).df()

    def keep(self, name: str, sql: str) -> None:
        self._run(f"CREATE OR REPLACE TEMPORARY TABLE {name} AS {sql}")

    def _run(self, sql: str):
        try:
            return self.con.execute(sql)
        except self._error as exc:
            raise _read_error(exc, self._source) from None

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self.con.register(name, frame)

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def row_hash(self, columns: list[str], seed: int) -> str:
        return f"hash({', '.join(columns)}, {int(seed)})"

    def collect_rows(self, columns: list[str], condition: str) -> dict[str, str]:
        # one list of structs (a list per column measured dearer: each evaluates the FILTER)
        fields = ", ".join(f"{c} := {c}" for c in columns)
        return {"kept_rows": f"list(struct_pack({fields})) FILTER (WHERE {condition})"}

    def unnest_rows(self, relation: str, columns: list[str]) -> str:
        return f"SELECT unnest(kept_rows, recursive := true) FROM {relation}"


class Spark(Engine):
    name = "spark"
    text_type = "STRING"
    hash_low = -(2**63)

    def __init__(self) -> None:
        super().__init__()
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise InputError(
                "engine: spark needs the pyspark package (pip install 'hlm-report[spark]')"
            ) from None
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            raise InputError(
                "engine: spark needs a Java runtime (17 or later): none on PATH and JAVA_HOME unset"
            )
        master = os.environ.get("SPARK_MASTER", "local[*]")
        partitions = os.environ.get("HLM_SPARK_PARTITIONS", "8")
        if not (partitions.isdigit() and int(partitions) > 0):
            raise InputError(
                f"HLM_SPARK_PARTITIONS={partitions!r} is not a positive whole number of partitions"
            )
        settings = {
            "spark.ui.enabled": "false",
            # its console progress bar would interleave with hlm-report's own progress lines
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": partitions,
            "spark.driver.memory": os.environ.get("HLM_SPARK_DRIVER_MEMORY", "2g"),
        }
        log = _jvm_log()
        try:
            with warnings.catch_warnings():
                # pyspark imports its test helpers on the first call that hands the JVM a value,
                # and that import warns that pandas 3 is not yet fully supported (printed before
                # any line of hlm-report's); its calls here are tested on pandas 3
                warnings.filterwarnings(
                    "ignore", "PySpark does not yet fully support pandas", FutureWarning
                )
                if log is not None:
                    _launch_jvm(master, settings, log)
                builder = SparkSession.builder.master(master).appName("hlm-report")
                self.spark = builder.config(map=settings).getOrCreate()
                self.spark.sparkContext.setLogLevel("ERROR")
                # a Parquet part may hold `Y` beside `y`: two columns, as in memory and DuckDB
                # (every query here names columns by its own aliases: case is never relied on)
                self.spark.conf.set("spark.sql.caseSensitive", "true")
        except Exception as exc:  # noqa: BLE001 - a JVM that does not start is a broken tool
            raise ToolError(
                f"Spark did not start (master {master}): {_first_line(exc)}{_jvm_said(log)}"
            ) from None
        finally:
            if log is not None:  # the JVM writes through a descriptor of its own
                log.close()

    def load(self, source: Source, used: list[str]) -> dict[str, str]:
        from pyspark.sql.functions import coalesce, lit

        self._source = source
        parts = []  # each read (a DataFrame of s0, s1, ...) with its first file, for messages
        try:
            for positions, files in source.positions(used):
                width = len(source.headers[source.files.index(files[0])])
                names = [f"h{j}" for j in range(width)]
                # Spark reads every file of one read as the type one footer gives: a part storing
                # a column as decimal where another stores double fails mid-scan; one read per
                # set of types, cast to one type below
                batches = (
                    list(source.by_types(files, positions).values())
                    if source.format == "parquet"
                    else [files]
                )
                for batch in batches:
                    part = self._read(batch, names, source.format)
                    columns = [part[names[j]] for j in positions]
                    if source.format == "csv":  # Spark reads an unquoted empty cell as null
                        columns = [coalesce(c, lit("")) for c in columns]
                    part = part.select(*(c.alias(f"s{i}") for i, c in enumerate(columns)))
                    parts.append((part, batch[0]))
            df, self.int_and_float = _union(parts, used)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - Spark raises its own exception classes
            raise _part_error(exc, source) or InputError(
                f"data {source.label} could not be read: {_first_line(exc)}"
            ) from None
        df.createOrReplaceTempView("src")
        kinds = {f.name: _kind_of(f.dataType.simpleString()) for f in df.schema.fields}
        return {c: kinds[f"s{i}"] for i, c in enumerate(used)}

    def _read(self, files: list[Path], names: list[str], form: str):
        from pyspark.sql.types import StringType, StructField, StructType

        if form == "parquet":
            return self.spark.read.parquet(*map(str, files)).toDF(*names)
        # the header line is skipped and columns taken by position in it (own names:
        # Spark matches names without case); cells quoted as RFC 4180 and DuckDB
        # read them (a doubled quote is a quote, a newline inside quotes is part of
        # the cell); no cell is null: `missing_values:` decides, as in memory
        return (
            self.spark.read.schema(StructType([StructField(n, StringType()) for n in names]))
            .option("header", True)
            .option("enforceSchema", True)
            .option("sep", "\t" if files[0].suffix.lower() == ".tsv" else ",")
            .option("quote", '"')
            .option("escape", '"')
            .option("multiLine", True)
            .option("nullValue", NO_NULL)
            .option("emptyValue", "")
            .option("encoding", "UTF-8")
            # a row with fewer or more cells than the header is refused, as memory and DuckDB
            # refuse it (PERMISSIVE padded it with nulls: the row dropped as missing, exit 0)
            .option("mode", "FAILFAST")
            .csv([str(f) for f in files])
        )

    def execute(self, sql: str) -> None:
        self._run(sql)

    def nfc(self, refs: dict[str, str], relation: str) -> dict[str, str]:
        """Spark SQL has no NFC function (and a Python UDF would see every row): one pass
        collects each column's distinct non-ASCII cells (an ASCII text is its own NFC), and
        those that NFC changes are mapped in a CASE."""
        if not refs:
            return {}
        with self.scan("text in NFC"):
            found = self.frame(
                "SELECT "
                + ", ".join(
                    f"collect_set(CASE WHEN octet_length({ref}) <> length({ref}) THEN {ref} END) "
                    f"AS n{i}"
                    for i, ref in enumerate(refs.values())
                )
                + f" FROM {relation}"
            ).iloc[0]
        if self._source is not None and self._source.format == "csv":
            self._refuse_replaced_bytes([v for i in range(len(refs)) for v in found[f"n{i}"]])
        out = {}
        for i, (c, ref) in enumerate(refs.items()):
            pairs = [(v, nfc(v)) for v in found[f"n{i}"] if nfc(v) != v]
            out[c] = (
                f"(CASE {ref} "
                + " ".join(f"WHEN {self.literal(a)} THEN {self.literal(b)}" for a, b in pairs)
                + f" ELSE {ref} END)"
                if pairs
                else ref
            )
        return out

    def _refuse_replaced_bytes(self, texts: list[str]) -> None:
        """Spark reads bytes that are not UTF-8 (a Windows-1252 part) as U+FFFD without a word,
        where memory and DuckDB refuse the part: a text cell holding one has the part named."""
        if any("\ufffd" in text for text in texts):
            problem = _part_error(ValueError(""), self._source)
            if problem is not None:
                raise problem

    def frame(self, sql: str) -> pd.DataFrame:
        try:  # Spark is lazy: reading errors surface when the rows are collected
            with warnings.catch_warnings():  # pyspark's notice about pandas versions
                warnings.filterwarnings("ignore", module="pyspark")  # its pandas notices, its calls
                return self._run(sql).toPandas()
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _read_error(exc, self._source) from None

    def _run(self, sql: str):
        try:
            return self.spark.sql(sql)
        except Exception as exc:  # noqa: BLE001
            raise _read_error(exc, self._source) from None

    def keep(self, name: str, sql: str) -> None:
        try:  # one job now; the queries after it read the checkpoint, not the files
            self._run(sql).localCheckpoint(eager=True).createOrReplaceTempView(name)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _read_error(exc, self._source) from None

    def register(self, name: str, frame: pd.DataFrame) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pyspark")  # its pandas notices, its calls
            self.spark.createDataFrame(frame).createOrReplaceTempView(name)

    def close(self) -> None:
        pass  # the session is reused by later calls in this process; the JVM ends with it

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def literal(self, text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def row_hash(self, columns: list[str], seed: int) -> str:
        return f"xxhash64({', '.join(columns)}, {int(seed)})"

    def collect_rows(self, columns: list[str], condition: str) -> dict[str, str]:
        fields = ", ".join(f"'{c}', {c}" for c in columns)
        return {"kept_rows": f"collect_list(named_struct({fields})) FILTER (WHERE {condition})"}

    def unnest_rows(self, relation: str, columns: list[str]) -> str:
        return f"SELECT inline(kept_rows) FROM {relation}"


def _jvm_log():
    """Where the JVM's own output goes when this process starts one (None: it runs already):
    HLM_SPARK_LOG's file when it names one, else an unnamed temporary file. Open, so that a JVM
    that fails to start can be quoted."""
    from pyspark import SparkContext

    if SparkContext._gateway is not None:  # a session of this process: reused
        return None
    named = os.environ.get(SPARK_LOG)
    if not named:
        return tempfile.TemporaryFile()  # noqa: SIM115 - open while the JVM starts
    try:
        return open(named, "a+b")  # noqa: SIM115 - open while the JVM starts; read back
    except OSError as exc:
        raise InputError(
            f"{SPARK_LOG}={named!r} cannot be written: {exc.strerror or exc}"
        ) from None


def _launch_jvm(master: str, settings: dict[str, str], log) -> None:
    """Start this process's JVM with its stdout and stderr in `log`: it prints log4j lines and
    notices ('Using incubator modules', the default log4j profile, the host's address) before
    any log level can be set, and the user's stderr holds hlm-report's lines only."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    conf = SparkConf().setMaster(master).setAppName("hlm-report").setAll(settings.items())
    gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
    SparkContext(conf=conf, gateway=gateway)


def _jvm_said(log) -> str:
    """What the JVM wrote of why it did not start: its first line naming an error or exception
    (spark-class's own complaint follows it), else its last line that is no stack frame."""
    if log is None:
        return ""
    try:
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - 8192))
        lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    said = [line.strip() for line in lines if line.strip() and not line[:1].isspace()]
    errors = [line for line in said if "Error" in line or "Exception" in line]
    return f" (Java: {(errors or said[-1:])[0][:300]})" if said else ""


def _duckdb_casts(reads: list[tuple[str, ...]], width: int) -> list[str | None]:
    """Per used column, the type every read is cast to where the reads' Parquet types differ:
    whole numbers of any width as BIGINT, numbers some of which are not whole (float, decimal) as
    DOUBLE (the in-memory reader's values; DuckDB's union would keep FLOAT for int64 beside
    float32); None where they agree or differ otherwise (source.py names number against text)."""
    casts: list[str | None] = []
    for i in range(width):
        types = {r[i] for r in reads if r and r[i] != "null"}
        if len(types) <= 1:
            casts.append(None)
        elif all(t.startswith(("int", "uint")) for t in types):
            casts.append("BIGINT")
        elif all(
            t.startswith(("int", "uint", "float", "double", "halffloat", "decimal")) for t in types
        ):
            casts.append("DOUBLE")
        else:
            casts.append(None)
    return casts


def _union(parts: list, used: list[str]) -> tuple:
    """The reads as one DataFrame, each column cast to one type where the parts differ: whole
    numbers of any width as 64-bit integers, numbers of which some are not whole (float, decimal)
    as doubles (the in-memory reader's values); an all-null part takes the others' type. Any
    other difference (text in one part, a number in another) is named. With the DataFrame: the
    columns of integers in some parts and other numbers in others."""
    from pyspark.sql.types import DoubleType, IntegralType, LongType, NullType, NumericType

    targets = []
    mixed = set()
    for i, column in enumerate(used):
        seen = [(p.schema[i].dataType, f) for p, f in parts]
        seen = [(t, f) for t, f in seen if not isinstance(t, NullType)]
        types = {t for t, _ in seen}
        if len(types) <= 1:
            targets.append(types.pop() if types else None)
        elif all(isinstance(t, IntegralType) for t in types):
            targets.append(LongType())
        elif all(isinstance(t, NumericType) for t in types):
            targets.append(DoubleType())
            if any(isinstance(t, IntegralType) for t in types):
                mixed.add(column)
        else:
            (a, first), (b, other) = seen[0], next(x for x in seen if x[0] != seen[0][0])
            raise InputError(
                f"data: column {quoted(column)} is {a.simpleString()} in {shown(first.name)} but "
                f"{b.simpleString()} in {shown(other.name)}; every part must give it one type"
            )
    df = None
    for part, _ in parts:
        fields = part.schema.fields
        part = part.select(
            *(
                part[f.name].cast(t).alias(f.name) if t is not None and f.dataType != t
                else part[f.name]
                for f, t in zip(fields, targets, strict=True)
            )
        )  # fmt: skip
        df = part if df is None else df.unionAll(part)
    return df, frozenset(mixed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# a part is read whole to say what is wrong with it only up to this size when the engine's
# error names no part (then every part is tried, in order)
_DIAGNOSE_UNNAMED = 1 << 30


def _part_error(exc: BaseException, source: Source | None) -> InputError | None:
    """The in-memory reader's line for what is wrong with the CSV part an engine refused (a
    short row, bytes that are not UTF-8): DuckDB's 'Schema mismatch between globbed files' and
    Spark's 'An error occurred while calling o128.getResult.' name no file in their first line.
    The part is the one the error's full text names (DuckDB 'file = ...', Spark 'reading file
    file:///...'); None when no part shows a problem. Runs only once the engine has failed."""
    if source is None or source.format != "csv":
        return None
    text = unquote(str(exc))
    named = [f for f in source.files if str(f) in text or os.path.abspath(f) in text]
    if not named and source.bytes > _DIAGNOSE_UNNAMED:
        return None
    for f in named or source.files:
        try:
            problem = csv_part_problem(f, len(source.headers[source.files.index(f)]))
        except OSError:
            continue
        if problem:
            return InputError(problem)
    return None


def _read_error(exc: BaseException, source: Source | None = None) -> InputError | ToolError:
    """What an engine's error means: memory running out is the machine's limit, not the data's
    fault (exit 3, saying which knobs there are); a CSV part's problem is named with the part;
    anything else is the data (exit 2)."""
    text = _first_line(exc)
    if type(exc).__name__ == "OutOfMemoryException" or text.startswith("Out of Memory"):
        return ToolError(
            f"DuckDB ran out of memory ({text}); it holds up to HLM_DUCKDB_MEMORY "
            f"(now {DUCKDB_MEMORY}) and spills the rest to disk, so the process's memory or "
            "address-space limit (ulimit -v) is below what it needs"
        )
    return _part_error(exc, source) or InputError(f"data could not be read: {text}")


def open_engine(name: str) -> Engine:
    if name == "duckdb":
        return DuckDB()
    if name == "spark":
        return Spark()
    raise InputError(f"engine: {name!r} is not one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "open_engine"]
