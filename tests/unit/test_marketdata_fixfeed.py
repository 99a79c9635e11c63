"""W and X applied by the FIX market-data feed, and what the sink is told (no engine)."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import quickfix as fix

from oms.fix.marketdata import FixMarketDataFeed, split_ordered
from oms.marketdata.quotes import LastQuotes

D = Decimal


def _text(msg_type: str, body: str) -> str:
    return f"8=FIX.4.4\x019=0\x0135={msg_type}\x01{body.replace('|', chr(1))}\x0110=000\x01"


class Recorder(LastQuotes):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def on_quote(self, symbol, bid, bid_size, ask, ask_size, ts):  # type: ignore[no-untyped-def]
        super().on_quote(symbol, bid, bid_size, ask, ask_size, ts)
        self.calls.append(("quote", symbol, bid, bid_size, ask, ask_size))

    def on_trade(self, symbol, px, qty, ts):  # type: ignore[no-untyped-def]
        self.calls.append(("trade", symbol, px, qty))


@pytest.fixture
def feed() -> tuple[FixMarketDataFeed, Recorder, list[fix.Message]]:
    sent: list[fix.Message] = []
    sink = Recorder()
    feed = FixMarketDataFeed("MD", sink, ["AAPL"], send=lambda m: sent.append(m) or True)
    feed.on_logon()
    return feed, sink, sent


def _req_id(message: fix.Message) -> str:
    return str(message.getField(262))


def _snapshot(feed: FixMarketDataFeed, req_id: str) -> None:
    feed.on_message("W", _text("W", f"262={req_id}|55=AAPL|268=3|269=0|270=99.5|271=300|"
                                    "269=1|270=100.5|271=200|269=2|270=100|271=100"))


def test_logon_subscribes_each_symbol_snapshot_and_updates(feed) -> None:  # type: ignore[no-untyped-def]
    _, _, sent = feed
    fields = split_ordered(sent[0].toString())
    assert ("35", "V") in fields and ("263", "1") in fields and ("264", "1") in fields
    assert ("265", "1") in fields and ("146", "1") in fields and ("55", "AAPL") in fields
    assert [v for t, v in fields if t == "269"] == ["0", "1", "2"]


def test_snapshot_replaces_and_reports_the_touch(feed) -> None:  # type: ignore[no-untyped-def]
    md, sink, sent = feed
    _snapshot(md, _req_id(sent[0]))
    assert sink.calls == [("quote", "AAPL", D("99.5"), D(300), D("100.5"), D(200))]
    assert md.quote("AAPL").mid == D(100)


def test_incremental_new_change_delete_in_order(feed) -> None:  # type: ignore[no-untyped-def]
    md, sink, sent = feed
    req = _req_id(sent[0])
    _snapshot(md, req)
    # the bid moves up: delete the snapshot's bid (by type) and add a level with an id
    md.on_message("X", _text("X", f"262={req}|268=3|279=2|269=0|55=AAPL|"
                                  "279=0|269=0|278=B1|55=AAPL|270=99.7|271=100|"
                                  "279=0|269=2|278=T1|55=AAPL|270=100|271=500"))
    assert sink.calls[-2] == ("quote", "AAPL", D("99.7"), D(100), D("100.5"), D(200))
    assert sink.calls[-1] == ("trade", "AAPL", D(100), D(500))
    md.on_message("X", _text("X", f"262={req}|268=2|279=1|269=0|278=B1|55=AAPL|271=700|"
                                  "279=1|269=1|55=AAPL|270=100.4|271=50"))
    assert sink.calls[-1] == ("quote", "AAPL", D("99.7"), D(700), D("100.4"), D(50))
    md.on_message("X", _text("X", f"262={req}|268=1|279=2|278=B1|55=AAPL"))
    assert sink.calls[-1] == ("quote", "AAPL", None, None, D("100.4"), D(50))
    assert md.resubscriptions == 0


def test_unknown_entry_resubscribes_the_symbol(feed, caplog) -> None:  # type: ignore[no-untyped-def]
    md, sink, sent = feed
    req = _req_id(sent[0])
    _snapshot(md, req)
    calls = len(sink.calls)
    with caplog.at_level(logging.WARNING):
        md.on_message("X", _text("X", f"262={req}|268=1|279=1|269=0|278=NOPE|55=AAPL|271=1"))
    assert md.resubscriptions == 1 and len(sink.calls) == calls
    assert "unknown MDEntryID NOPE" in caplog.text or "unknown entry NOPE" in caplog.text
    assert "resubscribing" in caplog.text
    # the old subscription is dropped (263=2), a new one asked for under a new MDReqID
    assert [m.getField(263) for m in sent[1:]] == ["2", "1"]
    new_req = _req_id(sent[2])
    assert new_req != req
    # updates of the old MDReqID are ignored, updates before the new snapshot resubscribe
    md.on_message("X", _text("X", f"262={req}|268=1|279=1|269=0|55=AAPL|271=1"))
    assert md.resubscriptions == 1
    _snapshot(md, new_req)
    assert sink.calls[-1][0] == "quote" and md.quote("AAPL") is not None


def test_update_before_snapshot_is_a_gap(feed) -> None:  # type: ignore[no-untyped-def]
    md, _, sent = feed
    md.on_message("X", _text("X", f"262={_req_id(sent[0])}|268=1|279=1|269=0|55=AAPL|271=1"))
    assert md.resubscriptions == 1


def test_reject_goes_to_the_sink_and_a_warning(feed, caplog) -> None:  # type: ignore[no-untyped-def]
    md, sink, sent = feed
    with caplog.at_level(logging.WARNING):
        md.on_message("Y", _text("Y", f"262={_req_id(sent[0])}|281=0|58=no such instrument"))
    assert sink.statuses == [("MD", f"request for AAPL (MDReqID {_req_id(sent[0])}) "
                                    "rejected: unknown symbol; no such instrument")]
    assert "rejected" in caplog.text and md.rejected["AAPL"]


def test_subscribe_adds_symbols_once(feed) -> None:  # type: ignore[no-untyped-def]
    md, _, sent = feed
    md.subscribe(["IBM", "AAPL", "IBM"])
    assert len(sent) == 2 and split_ordered(sent[1].toString()).count(("55", "IBM")) == 1


def test_entries_with_an_equals_sign_in_a_value_are_read_field_by_field(feed) -> None:  # type: ignore[no-untyped-def]
    # Arrange: an entry's Text (58) holding "=", which the one-go split cannot pair up
    feed_, sink, sent = feed
    _snapshot(feed_, _req_id(sent[0]))
    sink.calls.clear()

    # Act
    feed_.on_message("X", _text("X", "268=3|279=1|269=0|55=AAPL|270=99.6|271=100|58=a=b|"
                                     "279=0|269=2|55=AAPL|270=99.9|271=50|"
                                     "279=1|269=1|55=AAPL|270=100.4|271=300"))

    # Assert: both sides changed, the print reported, nothing resubscribed
    assert sink.calls == [("quote", "AAPL", D("99.6"), D(100), D("100.4"), D(300)),
                          ("trade", "AAPL", D("99.9"), D(50))]
    assert feed_.resubscriptions == 0


def test_the_same_price_text_read_twice_is_the_same_value_and_bad_ones_are_refused(feed) -> None:  # type: ignore[no-untyped-def]
    # Arrange
    feed_, sink, sent = feed
    _snapshot(feed_, _req_id(sent[0]))
    sink.calls.clear()

    # Act: a known price again, then a NaN size (not a number the book may hold)
    feed_.on_message("X", _text("X", "268=1|279=1|269=0|55=AAPL|270=99.5|271=400"))
    feed_.on_message("X", _text("X", "268=1|279=1|269=0|55=AAPL|270=99.7|271=NaN"))

    # Assert
    assert sink.calls[0] == ("quote", "AAPL", D("99.5"), D(400), D("100.5"), D(200))
    assert sink.calls[1] == ("quote", "AAPL", D("99.7"), None, D("100.5"), D(200))
