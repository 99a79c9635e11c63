"""oms.fix.engine.split_fields: a message's text as tag -> value, as the engine writes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oms.fix.engine import first_value, split_fields

TAGS = st.integers(min_value=1, max_value=9999).map(str)
VALUES = st.text(st.characters(blacklist_characters="\x01", blacklist_categories=("Cs",)),
                 max_size=12)


def field_by_field(text: str) -> dict[str, str]:
    return dict(field.split("=", 1) for field in text.split("\x01") if field)


@given(st.lists(st.tuples(TAGS, VALUES), min_size=1, max_size=30))
def test_any_engine_text_splits_as_field_by_field(fields: list[tuple[str, str]]) -> None:
    # values may hold "=" (then the fast path must not be taken), tags may repeat
    text = "".join(f"{tag}={value}\x01" for tag, value in fields)
    assert split_fields(text) == field_by_field(text) == dict(fields)


def test_an_execution_report_splits_into_its_fields() -> None:
    text = "8=FIX.4.4\x019=80\x0135=8\x0111=C1\x0158=a=b\x0158=\x0117=E1\x0110=123\x01"
    assert split_fields(text) == {"8": "FIX.4.4", "9": "80", "35": "8", "11": "C1",
                                  "58": "", "17": "E1", "10": "123"}
    plain = "8=FIX.4.4\x0135=8\x0139=2\x0110=001\x01"
    assert split_fields(plain) == {"8": "FIX.4.4", "35": "8", "39": "2", "10": "001"}


def test_first_value_reads_a_header_field_without_splitting() -> None:
    text = "8=FIX.4.4\x019=5\x0135=X\x0149=MARKET\x0156=OMS\x01262=R1\x0110=000\x01"
    assert first_value(text, "35") == "X"
    assert (first_value(text, "49"), first_value(text, "56")) == ("MARKET", "OMS")
    assert first_value(text, "262") == "R1"
    assert first_value(text, "58") == ""
    # a tag is matched whole: 9 is BodyLength, not the end of 49
    assert first_value(text, "9") == "5"
