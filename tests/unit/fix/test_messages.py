"""Outbound messages built from text: a new QuickFIX Message, or one filled anew."""

from __future__ import annotations

import quickfix as fix

from oms.fix.engine import message_from_text, refill_message, split_fields


def _fields(message: fix.Message) -> dict[str, str]:
    return split_fields(message.toString())


def test_a_refilled_message_holds_only_the_new_fields():
    # Arrange: a message that carried more tags, and header fields the engine set on send
    message = message_from_text("D", "11=C1\x0155=IBM\x0154=1\x0138=100\x0140=2\x0144=10")
    message.getHeader().setField(fix.MsgSeqNum(7))
    message.getHeader().setField(fix.SenderCompID("OMS"))

    # Act
    same = refill_message(message, "F", "41=C1\x0111=C2\x0155=IBM\x0154=1\x0138=100")

    # Assert: nothing of the first message is left, and the text is what a new one gives
    assert same is message
    fields = _fields(message)
    assert (fields["35"], fields["11"], fields["41"]) == ("F", "C2", "C1")
    assert not {"34", "49", "40", "44"} & fields.keys()
    fresh = message_from_text("F", "41=C1\x0111=C2\x0155=IBM\x0154=1\x0138=100")
    assert message.toString() == fresh.toString()
