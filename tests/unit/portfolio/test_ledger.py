"""The position and cash ledger (``oms.portfolio.ledger``): hand-computed cases, then
properties over random days of buys, sells, flips, fees, busts and corrections.

The properties keep their own list of active trades as the model and compare with ``==``:
the ledger is exact, so no tolerance is allowed anywhere."""

from __future__ import annotations

from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from oms.portfolio.ledger import Nav, Position, PositionLedger, Trade, apply_fill

D = Decimal
ACCOUNT = "ACC1"


class Marks:
    """A hand-written price source: the marks it was given, None for any other symbol."""

    def __init__(self, **prices: str) -> None:
        self.prices = {symbol: D(price) for symbol, price in prices.items()}
        self.asked: list[str] = []

    def __call__(self, symbol: str) -> Decimal | None:
        self.asked.append(symbol)
        return self.prices.get(symbol)


class Trades:
    """Makes trades with keys T1, T2, ... for one account."""

    def __init__(self, account: str = ACCOUNT) -> None:
        self.account = account
        self.count = 0

    def buy(self, symbol: str, qty: str, px: str, fee: str = "0") -> Trade:
        return self._trade(symbol, 1, qty, px, fee)

    def sell(self, symbol: str, qty: str, px: str, fee: str = "0") -> Trade:
        return self._trade(symbol, -1, qty, px, fee)

    def _trade(self, symbol: str, side_sign: int, qty: str, px: str, fee: str) -> Trade:
        self.count += 1
        return Trade(f"T{self.count}", self.account, symbol, side_sign, D(qty), D(px), D(fee))


def _booked(*trades: Trade) -> PositionLedger:
    ledger = PositionLedger()
    for trade in trades:
        ledger.book(trade)
    return ledger


# --- the fold, by hand -------------------------------------------------------------------
def test_three_buys_average_to_a_non_terminating_cost_rounded_to_ten_places():
    # Arrange
    make = Trades()

    # Act
    ledger = _booked(make.buy("X", "1", "10"), make.buy("X", "1", "10"), make.buy("X", "1", "11"))

    # Assert: the cost basis stays exact, only the displayed average is rounded
    position = ledger.position(ACCOUNT, "X")
    assert position is not None
    assert (position.qty, position.cost) == (D(3), D(31))
    assert str(position.avg_cost) == "10.3333333333"


def test_selling_part_of_a_long_realizes_the_gain_on_the_part_sold():
    # Arrange
    long = apply_fill(Position(ACCOUNT, "X"), D(10), D(100), D(0))

    # Act
    after = apply_fill(long, D(-4), D(110), D(0))

    # Assert
    assert (after.qty, after.cost, after.realized_pnl) == (D(6), D(600), D(40))
    assert after.avg_cost == D(100)


def test_buying_back_part_of_a_short_realizes_the_gain_on_the_part_bought():
    # Arrange
    short = apply_fill(Position(ACCOUNT, "X"), D(-10), D(100), D(0))

    # Act
    after = apply_fill(short, D(4), D(90), D(0))

    # Assert
    assert (after.qty, after.cost, after.realized_pnl) == (D(-6), D(-600), D(40))
    assert after.avg_cost == D(100)


def test_selling_more_than_the_long_closes_it_and_opens_a_short_at_the_fill_price():
    # Arrange
    long = apply_fill(Position(ACCOUNT, "X"), D(10), D(100), D(0))

    # Act
    after = apply_fill(long, D(-15), D(110), D(0))

    # Assert
    assert (after.qty, after.cost, after.realized_pnl) == (D(-5), D(-550), D(100))
    assert after.avg_cost == D(110)


def test_buying_more_than_the_short_closes_it_and_opens_a_long_at_the_fill_price():
    # Arrange
    short = apply_fill(Position(ACCOUNT, "X"), D(-10), D(100), D(0))

    # Act
    after = apply_fill(short, D(15), D(90), D(0))

    # Assert: 10 bought back 10 below the sale, then long 5 at 90
    assert (after.qty, after.cost, after.realized_pnl) == (D(5), D(450), D(100))


def test_closing_a_non_terminating_average_in_pieces_realizes_exactly_the_whole_gain():
    # Arrange: 3 bought for 31
    make = Trades()
    ledger = _booked(make.buy("X", "1", "10"), make.buy("X", "1", "10"), make.buy("X", "1", "11"))

    # Act
    partly = ledger.book(make.sell("X", "1", "12"))
    closed = ledger.book(make.sell("X", "2", "12"))

    # Assert: the first piece takes 31/3 rounded, the last piece takes what is left
    assert (partly.cost, partly.realized_pnl) == (D("20.6666666667"), D("1.6666666667"))
    assert (closed.qty, closed.cost, closed.realized_pnl) == (D(0), D(0), D(5))
    assert closed.is_flat and closed.avg_cost is None


def test_fees_add_up_apart_from_the_gross_realized_pnl_and_come_out_of_cash():
    # Arrange
    make = Trades()
    ledger = _booked(make.buy("X", "10", "100", fee="1.25"))
    ledger.set_start_cash(ACCOUNT, D(5000))

    # Act
    position = ledger.book(make.sell("X", "10", "110", fee="1.50"))

    # Assert
    assert (position.realized_pnl, position.fees) == (D(100), D("2.75"))
    assert ledger.total_pnl(ACCOUNT, "X", D(120)) == D("97.25")
    assert ledger.cash(ACCOUNT) == D(5000) - D(1000) + D(1100) - D("2.75")


def test_a_trade_folds_from_the_start_of_day_position():
    # Arrange
    ledger = PositionLedger()
    ledger.set_start(ACCOUNT, "X", D(10), D(1000))

    # Act
    position = ledger.book(Trades().sell("X", "4", "110"))

    # Assert
    assert (position.qty, position.cost, position.realized_pnl) == (D(6), D(600), D(40))
    assert (position.start_qty, position.start_cost) == (D(10), D(1000))


def test_setting_the_start_after_trades_folds_them_again_from_it():
    # Arrange
    ledger = _booked(Trades().sell("X", "4", "110"))

    # Act
    position = ledger.set_start(ACCOUNT, "X", D(10), D(1000))

    # Assert: the sale now reduces the long instead of opening a short
    assert (position.qty, position.cost, position.realized_pnl) == (D(6), D(600), D(40))


# --- cash and NAV, by hand ---------------------------------------------------------------
def _small_account(make: Trades | None = None) -> PositionLedger:
    """Start cash 10,010; long 100 AAA at 50 and short 100 BBB at 20, 5 of fees each."""
    make = make or Trades()
    ledger = _booked(make.buy("AAA", "100", "50", fee="5"), make.sell("BBB", "100", "20", fee="5"))
    ledger.set_start_cash(ACCOUNT, D(10010))
    return ledger


def test_a_long_and_a_short_give_cash_exposures_and_nav():
    # Arrange
    ledger = _small_account()

    # Act
    nav = ledger.nav(ACCOUNT, Marks(AAA="60", BBB="10"))

    # Assert: cash 10,010 - 5,000 + 2,000 - 10
    assert nav.cash == ledger.cash(ACCOUNT) == D(7000)
    assert (nav.long_market_value, nav.short_market_value) == (D(6000), D(-1000))
    assert (nav.gross_exposure, nav.net_exposure, nav.nav) == (D(7000), D(5000), D(12000))
    assert nav.unpriced == ()
    assert nav.weight("AAA") == D("0.5")
    assert str(nav.weight("BBB")) == "-0.0833333333"
    assert nav.weight("CCC") == D(0)


def test_pnl_of_the_small_account_is_its_change_in_nav():
    # Arrange
    ledger = _small_account()

    # Act
    pnl = [ledger.total_pnl(ACCOUNT, symbol, D(mark)) for symbol, mark in (("AAA", "60"),
                                                                          ("BBB", "10"))]

    # Assert: 1,000 up on each, 5 of fees each; NAV 12,000 from 10,010
    assert pnl == [D(995), D(995)]
    assert sum(pnl) == D(12000) - D(10010)


def test_a_held_symbol_without_a_mark_counts_zero_and_is_listed_a_flat_one_is_not_asked():
    # Arrange
    make = Trades()
    ledger = _small_account(make)
    ledger.book(make.buy("CCC", "7", "3"))
    ledger.book(make.buy("DDD", "1", "5"))
    ledger.book(make.sell("DDD", "1", "6"))
    marks = Marks(AAA="60", BBB="10")

    # Act
    nav = ledger.nav(ACCOUNT, marks)

    # Assert
    assert nav.unpriced == ("CCC",)
    # CCC cost 21 of cash and counts 0; DDD, bought at 5 and sold at 6, left 1 in cash
    assert nav.nav == D(12000) - D(21) + D(1)
    assert nav.weight("CCC") is None
    assert "DDD" not in marks.asked


def test_an_account_worth_nothing_has_no_weights():
    # Arrange
    ledger = _booked(Trades().buy("X", "10", "100"))
    ledger.set_start_cash(ACCOUNT, D(1000))

    # Act
    nav = ledger.nav(ACCOUNT, Marks(X="0"))

    # Assert
    assert nav.nav == 0
    assert nav.weight("X") is None


# --- busts, corrections, errors ----------------------------------------------------------
def test_busting_a_trade_folds_its_position_again_without_it():
    # Arrange
    make = Trades()
    ledger = _booked(make.buy("X", "10", "100"), make.sell("X", "4", "110"),
                     make.sell("X", "2", "120", fee="1"))

    # Act
    position = ledger.bust("T2")

    # Assert: 10 at 100, then 2 sold at 120
    assert (position.qty, position.cost, position.realized_pnl) == (D(8), D(800), D(40))
    assert [trade.key for trade in ledger.trades(ACCOUNT, "X")] == ["T1", "T3"]
    assert ledger.cash(ACCOUNT) == D(-1000) + D(240) - D(1)


def test_a_correction_keeps_the_trade_in_its_booking_place():
    # Arrange: buy 10 at 100, sell 10 at 110, buy 10 at 120
    make = Trades()
    ledger = _booked(make.buy("X", "10", "100"), make.sell("X", "10", "110"),
                     make.buy("X", "10", "120"))

    # Act: the first buy was 5, not 10
    position = ledger.correct("T1", D(5), D(100), fee=D(2))

    # Assert: long 5 at 100, sell 10 at 110 (+50, short 5 at 110), buy 10 at 120 (-50, long 5)
    assert (position.qty, position.cost, position.realized_pnl) == (D(5), D(600), D(0))
    assert position.fees == D(2)
    assert [trade.key for trade in ledger.trades(ACCOUNT, "X")] == ["T1", "T2", "T3"]


def test_a_key_books_once():
    # Arrange
    trade = Trades().buy("X", "1", "1")
    ledger = _booked(trade)

    # Act / Assert
    with pytest.raises(ValueError, match="already booked"):
        ledger.book(trade)


@pytest.mark.parametrize("act", [lambda ledger: ledger.bust("T9"),
                                 lambda ledger: ledger.correct("T9", D(1), D(1))])
def test_busting_or_correcting_an_unknown_trade_says_so(act):
    with pytest.raises(KeyError, match="No active trade T9"):
        act(PositionLedger())


def test_a_busted_trade_cannot_be_busted_again():
    # Arrange
    ledger = _booked(Trades().buy("X", "1", "1"))
    ledger.bust("T1")

    # Act / Assert
    with pytest.raises(KeyError, match="No active trade T1"):
        ledger.bust("T1")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"qty": D(0)}, "qty must be positive"),
        ({"px": D("-1")}, "px must be positive"),
        ({"fee": D("Infinity")}, "fee must be a finite number"),
        ({"side_sign": 0}, "side_sign must be 1"),
        ({"qty": 1.5}, "qty must be a Decimal, not float"),
        ({"px": D("NaN")}, "px must be a finite number"),
        ({"symbol": ""}, "needs a symbol"),
    ],
)
def test_a_malformed_trade_is_refused_with_a_reason(fields, reason):
    # (a negative fee is a rebate, and is booked: see the test below)
    values: dict[str, object] = dict(key="T1", account=ACCOUNT, symbol="X", side_sign=1,
                                     qty=D(1), px=D(1), fee=D(0))
    values.update(fields)
    with pytest.raises(ValueError, match=reason):
        Trade(**values)  # type: ignore[arg-type]


def test_a_bad_correction_leaves_the_trade_as_it_was():
    # Arrange
    ledger = _booked(Trades().buy("X", "10", "100"))

    # Act
    with pytest.raises(ValueError, match="qty must be positive"):
        ledger.correct("T1", D(0), D(100))

    # Assert
    assert ledger.trades(ACCOUNT, "X")[0].qty == D(10)
    assert ledger.cash(ACCOUNT) == D(-1000)


# --- properties --------------------------------------------------------------------------
SYMBOLS = ("AAA", "BBB")
PRICES = st.builds(lambda units, places: D(units).scaleb(-places),
                   st.integers(1, 5_000_000), st.sampled_from([2, 3, 4]))
QUANTITIES = st.one_of(st.integers(1, 500).map(D),
                       st.integers(1, 50_000).map(lambda hundredths: D(hundredths) / 100))
FEES = st.one_of(st.just(D(0)), st.integers(0, 2_000).map(lambda cents: D(cents) / 100))
# one step of a day: what it does (three bookings for each bust and correction), then every
# value any kind needs; a bust or correction picks an active trade by index modulo their count
OPERATIONS = st.tuples(st.sampled_from(["book", "book", "book", "bust", "correct"]),
                       st.sampled_from(SYMBOLS), st.sampled_from([1, -1]), QUANTITIES, PRICES,
                       FEES, st.integers(0, 1_000), st.booleans())
DAYS = st.lists(OPERATIONS, max_size=40)
STARTS = st.tuples(st.integers(-300, 300).map(D), PRICES)  # start qty, start-of-day mark
START_CASH = st.integers(-10_000_000, 10_000_000).map(lambda cents: D(cents) / 100)
MARKS = st.fixed_dictionaries({symbol: PRICES for symbol in SYMBOLS})


class Day:
    """One account's day played on a ledger, with the active trades kept apart as the model."""

    def __init__(self, starts: dict[str, tuple[Decimal, Decimal]], start_cash: Decimal
                 ) -> None:
        self.starts = {symbol: (qty, qty * mark) for symbol, (qty, mark) in starts.items()}
        self.start_cash = start_cash
        self.ledger = self.fresh_ledger()
        self.active: list[Trade] = []  # in booking order
        self.count = 0

    def fresh_ledger(self) -> PositionLedger:
        ledger = PositionLedger()
        ledger.set_start_cash(ACCOUNT, self.start_cash)
        for symbol, (qty, cost) in self.starts.items():
            ledger.set_start(ACCOUNT, symbol, qty, cost)
        return ledger

    def play(self, operations: list[tuple]) -> Day:
        for kind, symbol, side_sign, qty, px, fee, index, keep_fee in operations:
            if kind == "book":
                self.count += 1
                trade = Trade(f"T{self.count}", ACCOUNT, symbol, side_sign, qty, px, fee)
                self.ledger.book(trade)
                self.active.append(trade)
            elif self.active and kind == "bust":
                self.ledger.bust(self.active.pop(index % len(self.active)).key)
            elif self.active and kind == "correct":
                index %= len(self.active)
                old = self.active[index]
                new_fee = old.fee if keep_fee else fee
                self.active[index] = Trade(old.key, ACCOUNT, old.symbol, old.side_sign, qty,
                                           px, new_fee)
                self.ledger.correct(old.key, qty, px, None if keep_fee else fee)
        return self

    def signed_qty(self, symbol: str) -> Decimal:
        return sum((trade.signed_qty for trade in self.active if trade.symbol == symbol), D(0))

    def expected_cash(self) -> Decimal:
        paid = (trade.side_sign * trade.qty * trade.px + trade.fee for trade in self.active)
        return self.start_cash - sum(paid, D(0))


def _day(starts, start_cash, operations) -> Day:
    return Day(dict(zip(SYMBOLS, starts, strict=True)), start_cash).play(operations)


@settings(max_examples=200, deadline=None)
@given(starts=st.tuples(STARTS, STARTS), start_cash=START_CASH, operations=DAYS)
def test_a_position_is_its_start_plus_the_signed_sum_of_its_active_fills(
        starts, start_cash, operations):
    # Arrange / Act
    day = _day(starts, start_cash, operations)

    # Assert
    for symbol in SYMBOLS:
        position = day.ledger.position(ACCOUNT, symbol)
        assert position is not None
        assert position.qty == day.starts[symbol][0] + day.signed_qty(symbol)
    assert day.ledger.cash(ACCOUNT) == day.expected_cash()


@settings(max_examples=200, deadline=None)
@given(starts=st.tuples(STARTS, STARTS), start_cash=START_CASH, operations=DAYS, marks=MARKS)
def test_pnl_net_of_fees_is_the_change_in_nav_from_the_start_cost_basis(
        starts, start_cash, operations, marks):
    # Arrange
    day = _day(starts, start_cash, operations)
    nav_start = start_cash + sum(cost for _, cost in day.starts.values())

    # Act
    pnl = sum(day.ledger.total_pnl(ACCOUNT, symbol, marks[symbol]) for symbol in SYMBOLS)
    nav = day.ledger.nav(ACCOUNT, marks.get)

    # Assert
    assert pnl == nav.nav - nav_start


@settings(max_examples=200, deadline=None)
@given(starts=st.tuples(STARTS, STARTS), start_cash=START_CASH, operations=DAYS, marks=MARKS)
def test_nav_is_cash_plus_the_market_value_of_every_position(
        starts, start_cash, operations, marks):
    # Arrange
    day = _day(starts, start_cash, operations)
    quantities = {symbol: day.starts[symbol][0] + day.signed_qty(symbol) for symbol in SYMBOLS}

    # Act
    nav: Nav = day.ledger.nav(ACCOUNT, marks.get)

    # Assert
    values = [quantities[symbol] * marks[symbol] for symbol in SYMBOLS]
    assert nav.cash == day.expected_cash()
    assert nav.nav == day.expected_cash() + sum(values)
    assert nav.long_market_value == sum((value for value in values if value > 0), D(0))
    assert nav.short_market_value == sum((value for value in values if value < 0), D(0))
    assert nav.gross_exposure == sum((abs(value) for value in values), D(0))
    assert nav.unpriced == ()


@settings(max_examples=200, deadline=None)
@given(starts=st.tuples(STARTS, STARTS), start_cash=START_CASH, operations=DAYS)
def test_after_busts_and_corrections_the_ledger_equals_one_that_booked_only_what_remains(
        starts, start_cash, operations):
    # Arrange
    day = _day(starts, start_cash, operations)
    fresh = day.fresh_ledger()

    # Act
    for trade in day.active:
        fresh.book(trade)

    # Assert
    assert day.ledger.positions() == fresh.positions()
    assert day.ledger.cash(ACCOUNT) == fresh.cash(ACCOUNT)
    for symbol in SYMBOLS:
        assert day.ledger.trades(ACCOUNT, symbol) == fresh.trades(ACCOUNT, symbol)


def test_a_rebate_is_a_negative_fee_that_adds_to_cash_and_pnl():
    # Arrange: buy 100 at 10 with a 0.25 rebate (a broker paying for liquidity)
    ledger = PositionLedger()

    # Act
    position = ledger.book(Trade("T1", ACCOUNT, "X", 1, D(100), D(10), D("-0.25")))

    # Assert
    assert position.fees == D("-0.25")
    assert ledger.cash(ACCOUNT) == D("-999.75")
    assert position.total_pnl(D(10)) == D("0.25")
