"""Hypothesis strategies for the JSON bodies of the tests that hold an intake fast path to its
pydantic model: values of every JSON kind, and objects drawn field by field from a spec."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.server.time_texts import one_in_four

# Integers just inside and past what a 64-bit field holds
big_ints = st.integers(min_value=2**63 - 3, max_value=2**70) | st.integers(
    min_value=-(2**70), max_value=-(2**63) + 3
)
wrong = st.sampled_from([None, 0, 1.5, True, "", [], {}, ["x"], {"a": "b"}])

# Per field: (valid values, wrong values, may be left out). A field's "wrong" values may happen to be
# valid (None where None is allowed): that only changes the mix, not what a test checks.
Spec = dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any], bool]]


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Scalars, and lists and objects of them a few levels deep."""
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    )


def valid_fields(draw: st.DrawFn, spec: Spec) -> dict[str, Any]:
    """A valid value for each field of `spec`, optional ones now and then left out."""
    return {
        name: draw(valid)
        for name, (valid, _, optional) in spec.items()
        if not (optional and draw(one_in_four))
    }
