"""The intake's codec writes times exactly as SQLAlchemy stores them through `UTCDateTime`, so rows
written by either path sort, compare and read back alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.dialects import sqlite

from console.server.bulk import Codec
from console.server.tables import UTCDateTime

_zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC) | _zones
)

_engine = create_engine("sqlite://")
_table = Table("t", MetaData(), Column("at", UTCDateTime()))
_table.create(_engine)


@given(_times)
def test_a_time_is_written_as_sqlalchemy_writes_it_and_reads_back_equal(value: datetime) -> None:
    codec = Codec(sqlite.dialect())
    with _engine.begin() as conn:
        conn.execute(_table.delete())
        conn.execute(insert(_table), [{"at": value}])
        [stored] = conn.execute(text("SELECT at FROM t")).scalars()
        assert conn.execute(select(_table.c.at)).scalar_one() == value
    assert codec.time(value) == stored
    assert codec.time(value) == stored  # a second time, from the batch's cache
    assert codec.load_time(stored) == value


def test_json_writes_integers_beyond_64_bits_exactly_and_never_nan() -> None:
    # orjson refuses such integers; the stdlib writes them, and nothing that is not JSON
    codec = Codec(sqlite.dialect())
    assert codec.json({"A": 2**64 + 1, "t": "é"}) == '{"A":18446744073709551617,"t":"é"}'
    assert codec.load_json(codec.json({"A": 2**64})) == {"A": float(2**64)}
    with pytest.raises(ValueError, match="not JSON compliant"):
        codec.json({"A": 2**64, "B": float("nan")})
