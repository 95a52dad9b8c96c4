"""Hypothesis strategies for the date-time texts senders put in intake bodies, shared by the tests
that hold a fast path to its pydantic model."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

one_in_four = st.sampled_from([False, False, False, True])


def timespec_for(d: datetime) -> str:
    return "microseconds" if d.microsecond % 7 else "milliseconds" if d.microsecond % 3 else "seconds"


def digits(n: int, low: int, high: int) -> st.SearchStrategy[str]:
    """n digits: mostly in range, else any, or with one digit in another script (the same to int())."""
    in_range = st.integers(low, high).map(lambda v: str(v).zfill(n))
    other_script = in_range.flatmap(
        lambda text: st.integers(0, n - 1).map(lambda i: text[:i] + chr(0x660 + int(text[i])) + text[i + 1 :])
    )
    return st.one_of(
        in_range, in_range, in_range, st.integers(0, 10**n - 1).map(lambda v: str(v).zfill(n)), other_script
    )


@st.composite
def datetime_texts(draw: st.DrawFn) -> str:
    """RFC 3339-like text, with every part sometimes out of range or in another form."""
    date = f"{draw(digits(4, 0, 9999))}-{draw(digits(2, 1, 12))}-{draw(digits(2, 1, 31))}"
    if draw(one_in_four):
        return date + draw(st.sampled_from(["", " ", "T"]))
    sep = draw(st.sampled_from(["T", "T", "T", "t", " ", "_"]))
    time = f"{draw(digits(2, 0, 23))}:{draw(digits(2, 0, 59))}"
    time += draw(st.sampled_from([":" + draw(digits(2, 0, 60)), ":" + draw(digits(2, 0, 59)), ""]))
    fraction = draw(st.sampled_from(["", "", ".", "." + draw(st.text("0123456789", min_size=1, max_size=9))]))
    zone = draw(
        st.sampled_from(["Z", "Z", "z", "", "+00:00", "-00:00"])
        | st.builds(
            lambda sign, hours, minutes, colon: f"{sign}{hours}{colon}{minutes}",
            st.sampled_from("+-"),
            digits(2, 0, 24),
            digits(2, 0, 60),
            st.sampled_from([":", ":", ""]),
        )
    )
    return date + sep + time + fraction + zone


valid_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: d.isoformat(timespec=timespec_for(d)) + "Z"
)
