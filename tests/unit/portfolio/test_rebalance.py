"""Rebalancing (``oms.portfolio.rebalance``): the targets file, and plans whose trades are
worked out by hand in the comments; then a property over random portfolios."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oms.portfolio.rebalance import (
    PlannedTrade,
    RebalanceError,
    RebalancePlan,
    TargetsError,
    parse_targets,
    plan_rebalance,
    read_targets,
)


def _trades(plan: RebalancePlan) -> list[tuple[str, str, D]]:
    return [(trade.symbol, trade.side, trade.qty) for trade in plan.trades]


# --- the targets file ---------------------------------------------------------------------


def test_a_targets_file_with_header_comments_and_percentages_reads_as_fractions(tmp_path: Path):
    # Arrange
    path = tmp_path / "targets.csv"
    path.write_text("symbol,weight\n"
                    "# core holdings\n"
                    "AAPL, 0.25\n"
                    "\n"
                    "MSFT,25%   # a quarter\n"
                    "IBM,12.5%\n")

    # Act
    targets = read_targets(path)

    # Assert
    assert targets == {"AAPL": D("0.25"), "MSFT": D("0.25"), "IBM": D("0.125")}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["AAPL,0.2", "MSFT,abc"], "targets.csv:2: the weight of MSFT, 'abc', is not a number"),
        (["AAPL,NaN"], "targets.csv:1: the weight of AAPL, 'NaN', is not a number"),
        (["symbol,weight", " ,0.2"], "targets.csv:2: the symbol is empty"),
        (["AAPL,0.2", "", "AAPL,0.3"], "targets.csv:3: AAPL is already targeted on line 1"),
        (["AAPL,-0.2"], "targets.csv:1: the weight of AAPL is negative"),
        (["AAPL,60%", "MSFT,0.3", "IBM,0.2"], "targets.csv:3: the weights sum to 1.1 with IBM"),
        (["AAPL,0.2,extra"], "targets.csv:1: expected 'symbol,weight'"),
    ],
    ids=["weight not a number", "NaN weight", "empty symbol", "symbol twice", "negative weight",
         "weights above 1", "three columns"],
)
def test_a_malformed_targets_line_is_refused_naming_file_and_line(lines, message):
    with pytest.raises(TargetsError) as refused:
        parse_targets(lines, "targets.csv")

    assert str(refused.value).startswith(message)


def test_a_malformed_targets_file_names_its_path_and_line(tmp_path: Path):
    # Arrange
    path = tmp_path / "targets.csv"
    path.write_text("symbol,weight\nAAPL,0.5\nMSFT,half\n")

    # Act / Assert
    with pytest.raises(TargetsError, match=f"^{path}:3: the weight of MSFT"):
        read_targets(path)


def test_weights_summing_to_exactly_one_are_accepted():
    assert parse_targets(["A,50%", "B,0.25", "C,25%"], "t") == \
        {"A": D("0.5"), "B": D("0.25"), "C": D("0.25")}


# --- plans ---------------------------------------------------------------------------------


def test_a_small_portfolio_reaches_its_targets_with_sells_listed_first():
    # Arrange: cash 10,000; 100 AAPL @ 100 = 10,000; 50 MSFT @ 200 = 10,000: NAV 30,000.
    # AAPL 0.5 * 30,000 / 100 = 150 (hold 100: buy 50); MSFT 0.2 * 30,000 / 200 = 30
    # (hold 50: sell 20); IBM 0.3 * 30,000 / 150 = 60 (buy 60).
    # Cash: 10,000 + 4,000 from MSFT - 5,000 AAPL - 9,000 IBM = 0.
    holdings = {"AAPL": D(100), "MSFT": D(50)}
    prices = {"AAPL": D(100), "MSFT": D(200), "IBM": D(150)}
    targets = {"AAPL": D("0.5"), "MSFT": D("0.2"), "IBM": D("0.3")}

    # Act
    plan = plan_rebalance(cash=D(10_000), holdings=holdings, prices=prices, targets=targets)

    # Assert
    assert plan.nav == D(30_000)
    assert _trades(plan) == [("MSFT", "sell", D(20)), ("AAPL", "buy", D(50)),
                             ("IBM", "buy", D(60))]
    assert [trade.value for trade in plan.trades] == [D(4_000), D(5_000), D(9_000)]
    assert plan.cash_after == D(0)
    assert plan.weights_before == {"AAPL": D(10_000) / D(30_000),
                                   "MSFT": D(10_000) / D(30_000), "IBM": D(0)}
    assert plan.weights_after == targets
    assert plan.skipped == []
    assert plan.buy_scale == D(1)


def test_a_buy_is_rounded_down_to_whole_lots():
    # Arrange: cash 100,000, nothing held; XYZ 0.5 * 100,000 / 30 = 1,666.67 -> 16 lots of 100
    # Act
    plan = plan_rebalance(cash=D(100_000), holdings={}, prices={"XYZ": D(30)},
                          targets={"XYZ": D("0.5")}, lot_size=D(100))

    # Assert
    assert _trades(plan) == [("XYZ", "buy", D(1_600))]
    assert plan.cash_after == D(100_000) - D(48_000)


@pytest.mark.parametrize(
    ("weight", "sold"),
    [
        # hold 1,000 @ 10, NAV 10,000; the target is weight * 1,000 shares
        (D("0.25"), D(700)),  # target 250: sell 750 = 7.5 lots, the tie goes to the smaller 7
        (D("0.26"), D(700)),  # target 260: sell 740 = 7.4 lots -> 7
        (D("0.24"), D(800)),  # target 240: sell 760 = 7.6 lots -> 8
    ],
    ids=["tie keeps the smaller trade", "rounds down", "rounds up"],
)
def test_a_sell_stops_at_the_lot_nearest_its_target(weight, sold):
    plan = plan_rebalance(cash=D(0), holdings={"XYZ": D(1_000)}, prices={"XYZ": D(10)},
                          targets={"XYZ": weight}, lot_size=D(100))

    assert _trades(plan) == [("XYZ", "sell", sold)]


def test_a_symbol_missing_from_the_lot_map_trades_in_single_shares():
    # Arrange: cash 10,000; A 0.5 -> 5,000 / 30 = 166.67: 100 with lots of 100;
    # B 0.5 -> 5,000 / 30 = 166.67: 166 in single shares
    prices = {"A": D(30), "B": D(30)}

    # Act
    plan = plan_rebalance(cash=D(10_000), holdings={}, prices=prices,
                          targets={"A": D("0.5"), "B": D("0.5")}, lot_size={"A": D(100)})

    # Assert
    assert _trades(plan) == [("A", "buy", D(100)), ("B", "buy", D(166))]


def test_trades_worth_less_than_the_minimum_are_skipped_with_the_reason():
    # Arrange: 100 A @ 50 and 100 B @ 50, NAV 10,000; A 0.49 -> 98 (sell 2, worth 100),
    # B 0.51 -> 102 (buy 2, worth 100); the minimum is 500
    holdings = {"A": D(100), "B": D(100)}
    prices = {"A": D(50), "B": D(50)}

    # Act
    plan = plan_rebalance(cash=D(0), holdings=holdings, prices=prices,
                          targets={"A": D("0.49"), "B": D("0.51")}, min_trade_value=D(500))

    # Assert
    assert plan.trades == []
    assert plan.skipped == [
        ("A", "the sell of 2 at 50 is worth 100, below the minimum trade value of 500"),
        ("B", "the buy of 2 at 50 is worth 100, below the minimum trade value of 500"),
    ]
    assert plan.weights_after == {"A": D("0.5"), "B": D("0.5")}


def test_a_trade_worth_exactly_the_minimum_is_kept():
    plan = plan_rebalance(cash=D(1_000), holdings={}, prices={"A": D(50)},
                          targets={"A": D("0.5")}, min_trade_value=D(500))

    assert _trades(plan) == [("A", "buy", D(10))]


def test_the_cash_buffer_scales_every_buy_down_by_the_same_fraction():
    # Arrange: cash 10,000, nothing held; A 0.6 @ 10 -> 600 (6,000), B 0.4 @ 20 -> 200
    # (4,000): 10,000 of buys. A buffer of 0.1 keeps 1,000: 9,000 may be spent, so every buy
    # is scaled by 0.9: A 540 (5,400), B 180 (3,600); 1,000 stays cash.
    prices = {"A": D(10), "B": D(20)}

    # Act
    plan = plan_rebalance(cash=D(10_000), holdings={}, prices=prices,
                          targets={"A": D("0.6"), "B": D("0.4")}, cash_buffer=D("0.1"))

    # Assert
    assert _trades(plan) == [("A", "buy", D(540)), ("B", "buy", D(180))]
    assert plan.buy_scale == D("0.9")
    assert plan.cash_after == D(1_000)


def test_scaled_buys_are_rounded_down_to_lots_and_the_rest_stays_cash():
    # Arrange: cash 10,000; A 0.5 @ 10 -> 500, B 0.5 @ 10 -> 500 (lots of 100); the buffer
    # keeps 2,500, so 7,500 of 10,000 may be spent: scale 0.75 -> 375 each -> 300 each
    # (6,000 spent); 4,000 stays cash, it is not handed out again.
    prices = {"A": D(10), "B": D(10)}

    # Act
    plan = plan_rebalance(cash=D(10_000), holdings={}, prices=prices,
                          targets={"A": D("0.5"), "B": D("0.5")}, lot_size=D(100),
                          cash_buffer=D("0.25"))

    # Assert
    assert _trades(plan) == [("A", "buy", D(300)), ("B", "buy", D(300))]
    assert plan.cash_after == D(4_000)


def test_a_buy_scaled_to_nothing_is_skipped_with_the_reason():
    # Arrange: cash 1,000; A 0.9 @ 100 -> 9 lots of 1 (900), B 0.05 @ 10 -> 5 (50): 950 of
    # buys; the buffer keeps 900, 100 may be spent: scale 100 / 950 -> A 0.94 -> 0, B 0.52 -> 0
    prices = {"A": D(100), "B": D(10)}

    # Act
    plan = plan_rebalance(cash=D(1_000), holdings={}, prices=prices,
                          targets={"A": D("0.9"), "B": D("0.05")}, cash_buffer=D("0.9"))

    # Assert
    assert plan.trades == []
    assert plan.skipped == [
        ("A", "the buy of 9 was cut to nothing: the buys cost 950 and 100 of cash was available"),
        ("B", "the buy of 5 was cut to nothing: the buys cost 950 and 100 of cash was available"),
    ]
    assert plan.cash_after == D(1_000)


def test_a_negative_target_is_refused_without_allow_short():
    with pytest.raises(RebalanceError, match="the target weight of A is -0.2: a short target "
                                             "needs allow_short"):
        plan_rebalance(cash=D(10_000), holdings={}, prices={"A": D(10)},
                       targets={"A": D("-0.2")})


def test_a_negative_target_with_allow_short_sells_short_and_raises_cash():
    # Arrange: cash 10,000; A -0.2 @ 10 -> -200 shares: sell 200, cash 12,000
    # Act
    plan = plan_rebalance(cash=D(10_000), holdings={}, prices={"A": D(10)},
                          targets={"A": D("-0.2")}, allow_short=True)

    # Assert
    assert _trades(plan) == [("A", "sell", D(200))]
    assert plan.cash_after == D(12_000)
    assert plan.weights_after == {"A": D("-0.2")}


@pytest.mark.parametrize(
    ("allow_short", "sold", "weight_after"),
    [
        # hold 160 @ 10, NAV 1,600; A 0.001 -> 0.16 shares: sell 159.84 = 1.6 lots -> 2 lots
        (False, D(100), D("0.375")),  # 200 would go short: the sell stops at 1 lot, 60 left
        (True, D(200), D("-0.25")),  # -40 * 10 / 1,600
    ],
    ids=["long only", "short allowed"],
)
def test_rounding_a_sell_up_never_goes_short_unless_allowed(allow_short, sold, weight_after):
    plan = plan_rebalance(cash=D(0), holdings={"A": D(160)}, prices={"A": D(10)},
                          targets={"A": D("0.001")}, lot_size=D(100), allow_short=allow_short)

    assert _trades(plan) == [("A", "sell", sold)]
    assert plan.weights_after == {"A": weight_after}


def test_a_held_symbol_missing_from_the_targets_is_sold_out_odd_lot_included():
    # Arrange: cash 0; 100 A @ 10 (1,000) and 37 B @ 20 (740): NAV 1,740; lots of 10.
    # B has no target: sell all 37 (740). A 1.0 -> 174: buy 74 -> 70 in lots of 10 (700).
    holdings = {"A": D(100), "B": D(37)}
    prices = {"A": D(10), "B": D(20)}

    # Act
    plan = plan_rebalance(cash=D(0), holdings=holdings, prices=prices,
                          targets={"A": D(1)}, lot_size=D(10))

    # Assert
    assert _trades(plan) == [("B", "sell", D(37)), ("A", "buy", D(70))]
    assert plan.weights_after["B"] == D(0)
    assert plan.cash_after == D(40)


def test_every_weight_after_is_within_one_lot_of_its_target():
    # Arrange: uneven prices and lots; the targets sum to 0.95, so the cash covers the buys
    holdings = {"A": D(1_250), "B": D(3), "C": D(700), "D": D(10)}
    prices = {"A": D("17.35"), "B": D("2401.10"), "C": D("3.07"), "D": D("88.8"),
              "E": D("45.5")}
    targets = {"A": D("0.1"), "B": D("0.35"), "C": D("0.05"), "E": D("0.45")}
    lots = {"A": D(100), "C": D(1_000), "E": D(25)}

    # Act
    plan = plan_rebalance(cash=D("25000.00"), holdings=holdings, prices=prices,
                          targets=targets, lot_size=lots)

    # Assert
    assert plan.buy_scale == D(1)
    for symbol, price in prices.items():
        one_lot = lots.get(symbol, D(1)) * price / plan.nav
        assert abs(plan.weights_after[symbol] - targets.get(symbol, D(0))) <= one_lot, symbol


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"AAPL": D(100)}, "no price for IBM"),  # targeted, not held
        ({"IBM": D(150)}, "no price for AAPL"),  # held, not targeted
        ({"AAPL": D(100), "IBM": D(0)}, "the price of IBM is 0"),
        ({"AAPL": D(-1), "IBM": D(150)}, "the price of AAPL is -1"),
    ],
    ids=["targeted symbol", "held symbol", "zero price", "negative price"],
)
def test_a_missing_or_non_positive_price_is_refused_naming_the_symbol(prices, message):
    with pytest.raises(RebalanceError, match=message):
        plan_rebalance(cash=D(0), holdings={"AAPL": D(10)}, prices=prices,
                       targets={"IBM": D(1)})


def test_a_portfolio_worth_nothing_cannot_be_planned():
    with pytest.raises(RebalanceError, match="NAV is 0"):
        plan_rebalance(cash=D(0), holdings={}, prices={"A": D(1)}, targets={"A": D(1)})


# --- a property over random portfolios -----------------------------------------------------

SYMBOLS = ["A", "B", "C", "D", "E"]
quantities = st.integers(min_value=0, max_value=5_000).map(D)
cents = st.integers(min_value=1, max_value=500_000).map(lambda n: D(n) / 100)
per_mille = st.integers(min_value=0, max_value=1_000)


@st.composite
def portfolios(draw):
    held = draw(st.lists(st.sampled_from(SYMBOLS), unique=True))
    targeted = draw(st.lists(st.sampled_from(SYMBOLS), unique=True))
    holdings = {symbol: draw(quantities) for symbol in held}
    prices = {symbol: draw(cents) for symbol in set(held) | set(targeted)}
    shares = {symbol: draw(per_mille) for symbol in targeted}
    total = max(sum(shares.values()), 1_000)  # weights in thousandths, summing to at most 1
    targets = {symbol: D(share * 1_000 // total) / 1_000 for symbol, share in shares.items()}
    cash = draw(st.integers(min_value=0, max_value=10_000_000).map(lambda n: D(n) / 100))
    return cash, holdings, prices, targets


@given(portfolios())
def test_any_long_portfolio_stays_long_solvent_and_within_a_lot_of_its_targets(portfolio):
    # Arrange
    cash, holdings, prices, targets = portfolio
    assume(cash + sum((q * prices[s] for s, q in holdings.items()), D(0)) > 0)

    # Act
    plan = plan_rebalance(cash=cash, holdings=holdings, prices=prices, targets=targets)

    # Assert: positions and cash follow from the trades alone
    after = {symbol: holdings.get(symbol, D(0)) for symbol in prices}
    for trade in plan.trades:
        assert trade.qty > 0 and trade.value == trade.qty * trade.price
        after[trade.symbol] += trade.qty if trade.side == "buy" else -trade.qty
    sides = [trade.side for trade in plan.trades]
    assert sides == sorted(sides, key=lambda side: side == "buy")  # sells first
    flows = sum((_signed_value(trade) for trade in plan.trades), D(0))
    assert plan.cash_after == cash - flows
    assert all(quantity >= 0 for quantity in after.values())
    assert plan.cash_after >= 0
    for symbol, price in prices.items():
        weight = after[symbol] * price / plan.nav
        target = targets.get(symbol, D(0))
        assert plan.weights_after[symbol] == weight
        if plan.buy_scale == 1:
            assert abs(weight - target) <= price / plan.nav, symbol
        else:  # buys cut by the cash: no symbol overshoots its target by a lot
            assert weight - target <= price / plan.nav, symbol


def _signed_value(trade: PlannedTrade) -> D:
    return trade.value if trade.side == "buy" else -trade.value
