"""The drop-copy matcher (#19) in the core, with fakes: each break kind found exactly once,
nothing else flagged, the grace periods ended by the fake timers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.app.commands import ApplyDropCopy, SessionLoggedOn, SessionLoggedOut
from oms.app.ports import DropCopySource
from oms.app.records import DropCopyBreak, LoadedCopy, LoadedFill
from tests.unit.app.harness import BROKER, START, Harness, submit_order

D = Decimal
DROP = "FIX.4.4:OMSDC->BROKER1"
OTHER_BROKER = "FIX.4.4:OMS->OTHER"
GRACE = 60.0


def harness(**kwargs: object) -> Harness:
    h = Harness(drop_copies=[DropCopySource(DROP, "SIMDC", "SIM", (BROKER,), GRACE)],
                **kwargs)  # type: ignore[arg-type]
    h.run(SessionLoggedOn(DROP))
    return h


def copy_of(exec_id: str, qty: str = "40", px: str = "10", *, cl_ord_id: str = "",
            broker_order_id: str = "BRK-1", symbol: str = "ACME", side: str = "1",
            poss_dup: bool = False, exec_type: str = "F", seq_num: int = 7) -> ApplyDropCopy:
    return ApplyDropCopy(
        session=DROP, seq_num=seq_num, raw=f"35=8|17={exec_id}|150={exec_type}|797=Y",
        exec_id=exec_id, exec_type=exec_type, ord_status="1", cl_ord_id=cl_ord_id,
        broker_order_id=broker_order_id, account="ACC1", symbol=symbol, side=side,
        last_qty=D(qty), last_px=D(px), transact_time=START, copy=True, poss_dup=poss_dup)


def breaks(h: Harness) -> list[DropCopyBreak]:
    return [b for batch in h.journal.batches for b in batch.dropcopy_breaks]


def kinds(h: Harness) -> list[str]:
    return [b.kind for b in breaks(h)]


def filled(h: Harness, qty: str = "40", px: str = "10", exec_id: str = "BX") -> Harness:
    """Order C1 acknowledged, then filled ``qty`` at ``px`` under broker ExecID ``exec_id``."""
    h.working_order()
    h.broker("F", exec_id=exec_id, last_qty=qty, last_px=px)
    return h


def after_grace(h: Harness, seconds: float = GRACE) -> None:
    h.clock.advance(seconds)
    h.after_timers()


def test_a_copy_of_our_fill_by_its_broker_exec_id_pairs_and_nothing_is_flagged() -> None:
    h = filled(harness())

    step = h.run(copy_of("BX"))
    after_grace(h)
    after_grace(h)

    assert kinds(h) == []
    [stored] = step.batch.drop_copies
    assert (stored.session, stored.broker_exec_id, stored.last_qty, stored.raw) == (
        DROP, "BX", D(40), "35=8|17=BX|150=F|797=Y")
    assert step.batch.inbound_seqs[DROP] == 7  # committed with the report, as any inbound


def test_a_copy_that_comes_before_our_fill_pairs_with_it() -> None:
    h = harness()
    h.working_order()
    h.run(copy_of("BX"))

    h.broker("F", exec_id="BX", last_qty="40", last_px="10")
    after_grace(h)

    assert kinds(h) == []


@pytest.mark.parametrize("kind, copy, detail", [
    ("qty", copy_of("BX", qty="41"), "qty: drop copy 41, ours 40"),
    ("px", copy_of("BX", px="10.01"), "px: drop copy 10.01, ours 10"),
    ("side", copy_of("BX", side="2"), "side: drop copy 2, ours 1"),
])
def test_a_pair_that_differs_is_one_break_of_its_kind(kind: str, copy: ApplyDropCopy,
                                                      detail: str) -> None:
    h = filled(harness())

    h.run(copy)
    after_grace(h)
    after_grace(h)

    [found] = breaks(h)
    order = h.order()
    assert (found.kind, found.detail, found.broker, found.broker_exec_id, found.order_id,
            found.session) == (kind, detail, "SIM", "BX", order.order_id, DROP)
    assert found.exec_id == order.fills[0].exec_id


def test_a_fill_without_a_copy_is_missing_once_after_the_grace_and_not_before() -> None:
    h = filled(harness())

    after_grace(h, GRACE - 1)
    assert kinds(h) == []
    after_grace(h, 1)
    after_grace(h)
    h.run(copy_of("BX"))  # a late copy pairs silently: the break is already said
    after_grace(h)

    [found] = breaks(h)
    assert (found.kind, found.broker_exec_id, found.qty, found.px) == ("missing", "BX", D(40),
                                                                        D(10))
    assert "no drop copy after 60 s" in found.detail


def test_a_copy_of_a_fill_we_never_made_is_external_once_after_the_grace() -> None:
    h = harness()

    h.run(copy_of("EXT1", symbol="ZZZ", broker_order_id="THEIRS", cl_ord_id="X1"))
    after_grace(h, GRACE - 1)
    assert kinds(h) == []
    after_grace(h, 1)
    after_grace(h)

    [found] = breaks(h)
    assert (found.kind, found.symbol, found.order_id, found.exec_id) == (
        "external", "ZZZ", "", "")
    assert "OrderID THEIRS" in found.detail and "ClOrdID X1" in found.detail


def test_the_same_exec_id_again_is_a_duplicate_unless_it_says_poss_dup() -> None:
    h = filled(harness())
    h.run(copy_of("BX"))

    h.run(copy_of("BX", poss_dup=True))  # a resend: what resends are
    h.run(copy_of("BX"))  # sent again as new: a duplicate
    after_grace(h)

    assert kinds(h) == ["duplicate"]


def test_a_copy_numbered_apart_pairs_by_order_id_and_quantity() -> None:
    h = filled(harness())

    h.run(copy_of("DC-77", broker_order_id="BRK-1"))
    after_grace(h)

    assert kinds(h) == []


def test_a_copy_numbered_apart_pairs_by_our_child_cl_ord_id() -> None:
    h = filled(harness())

    h.run(copy_of("DC-77", broker_order_id="", cl_ord_id=h.child("D")))
    after_grace(h)

    assert kinds(h) == []


def test_a_copy_naming_nothing_pairs_by_symbol_side_qty_and_px_within_the_window() -> None:
    h = filled(harness())

    h.run(copy_of("DC-77", broker_order_id=""))
    after_grace(h)

    assert kinds(h) == []


def test_a_look_alike_outside_the_window_is_not_paired() -> None:
    h = filled(harness())
    h.clock.advance(GRACE + 1)

    h.run(copy_of("DC-77", broker_order_id=""))
    after_grace(h)

    assert sorted(kinds(h)) == ["external", "missing"]


def test_fills_made_before_the_drop_copy_logged_on_count_and_wait_from_its_logon() -> None:
    h = Harness(drop_copies=[DropCopySource(DROP, "SIMDC", "SIM", (BROKER,), GRACE)])
    filled(h)
    h.run(submit_order("C2"))
    h.broker("0", cl_ord_id=h.child("D"), ord_status="0", broker_order_id="BRK-2")
    h.broker("F", cl_ord_id=h.child("D"), exec_id="BY", last_qty="100", last_px="10",
             broker_order_id="BRK-2")
    h.clock.advance(3 * GRACE)  # the drop copy is down: no copy can come

    h.run(SessionLoggedOn(DROP))
    h.run(copy_of("BX"))  # the broker's resend after the logon brings one of them
    after_grace(h, GRACE - 1)
    assert kinds(h) == []
    after_grace(h, 1)

    [found] = breaks(h)
    assert (found.kind, found.broker_exec_id) == ("missing", "BY")


def test_while_the_drop_copy_is_down_nothing_is_missing() -> None:
    h = filled(harness())
    h.run(SessionLoggedOut(DROP))

    after_grace(h)
    after_grace(h)

    assert kinds(h) == []


def test_busts_and_corrections_on_the_drop_copy_are_kept_and_not_matched() -> None:
    h = filled(harness())
    h.run(copy_of("BX"))

    step = h.run(copy_of("BX-BUST", exec_type="H"), copy_of("BX-CORR", exec_type="G",
                                                            qty="1"))
    after_grace(h)

    assert [r.exec_type for r in step.batch.drop_copies] == ["H", "G"]
    assert kinds(h) == []


def test_fills_of_a_broker_without_a_drop_copy_are_not_looked_at() -> None:
    h = Harness(drop_copies=[DropCopySource(DROP, "OTHERDC", "OTHER", (OTHER_BROKER,),
                                            GRACE)])
    filled(h)

    after_grace(h)

    assert kinds(h) == [] and h.timers.waiting == []


def test_without_drop_copies_the_core_subscribes_nothing_and_sets_no_timer() -> None:
    h = Harness()
    before = dict(h.core._subscribers)

    filled(h)

    assert h.core.dc_sources == {} and h.core._subscribers == before
    assert h.timers.waiting == []


def test_a_flow_with_one_of_each_break_finds_each_once_and_nothing_else() -> None:
    h = harness()
    # five orders filled in two fills each; the broker's copies: all but one (missing),
    # one with another quantity, one twice, and two fills of an order not ours
    for number in range(1, 6):
        h.run(submit_order(f"C{number}"))
        child = h.child("D")
        h.broker("0", cl_ord_id=child, ord_status="0", broker_order_id=f"BRK-{number}")
        for part in (1, 2):
            h.broker("F", cl_ord_id=child, exec_id=f"B{number}.{part}", last_qty="50",
                     last_px="10", broker_order_id=f"BRK-{number}")
    copies = [copy_of(f"B{n}.{p}", qty="50", broker_order_id=f"BRK-{n}")
              for n in range(1, 6) for p in (1, 2) if (n, p) != (3, 2)]
    copies[0] = copy_of("B1.1", qty="51", broker_order_id="BRK-1")
    copies.append(copy_of("B2.1", qty="50", broker_order_id="BRK-2"))
    copies += [copy_of(f"X{p}", qty="7", symbol="ZZZ", broker_order_id="NOT-OURS")
               for p in (1, 2)]

    for copy in copies:
        h.run(copy)
    for _ in range(3):
        after_grace(h)

    assert sorted(kinds(h)) == ["duplicate", "external", "external", "missing", "qty"]
    found = {b.kind: b for b in breaks(h)}
    assert found["missing"].broker_exec_id == "B3.2"
    assert found["qty"].broker_exec_id == "B1.1"
    assert found["duplicate"].broker_exec_id == "B2.1"


# --- a restart ------------------------------------------------------------------------
def _loaded_fill(exec_id: str, broker_exec_id: str, qty: str = "40") -> LoadedFill:
    return LoadedFill(exec_id, "O9-1", BROKER, broker_exec_id, "BRK-9", ("C9",), "ACME", "1",
                      D(qty), D("10"), START)


def _loaded_copy(broker_exec_id: str, qty: str = "40") -> LoadedCopy:
    return LoadedCopy(DROP, broker_exec_id, "", "BRK-9", "ACME", "1", D(qty), D("10"), START)


def test_after_a_restart_a_late_copy_finds_its_fill_and_nothing_is_flagged_again() -> None:
    # Arrange: before the restart, fill E1 (BX1) paired with its copy; fill E2 (BX2) was
    # flagged missing; a copy BX3 was flagged external; fill E4 (BX4) still waits
    h = Harness(drop_copies=[DropCopySource(DROP, "SIMDC", "SIM", (BROKER,), GRACE)])
    h.core.load_drop_copies(
        [_loaded_fill("E1", "BX1"), _loaded_fill("E2", "BX2"), _loaded_fill("E4", "BX4")],
        [_loaded_copy("BX1"), _loaded_copy("BX3", qty="7")],
        [("missing", "SIM", "BX2", "E2"), ("external", "SIM", "BX3", "")])
    h.run(SessionLoggedOn(DROP))

    # Act: the copies of E4 and E2 come after the restart; BX1 is copied again, not as a
    # resend
    h.run(copy_of("BX4"))
    h.run(copy_of("BX2"))
    h.run(copy_of("BX1"))
    after_grace(h)
    after_grace(h)

    # Assert
    assert kinds(h) == ["duplicate"]
    assert breaks(h)[0].broker_exec_id == "BX1"
