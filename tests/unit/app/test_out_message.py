"""OutMessage: the body text the engine is handed and the line the journal keeps."""

from __future__ import annotations

from oms.app.ports import OutMessage


def test_body_and_journal_line_hold_every_field_in_order() -> None:
    # Arrange: tags of one to four digits, a repeated tag, an empty value
    message = OutMessage.of_fields("FIX.4.4:OMS->CLIENT1", "8",
                         [(37, "O1"), (11, "C1"), (150, "F"), (9999, "x"), (58, ""), (1, "A")])

    # Act
    body, line = message.body(), message.render()

    # Assert
    assert body == "37=O1\x0111=C1\x01150=F\x019999=x\x0158=\x011=A"
    assert line == "35=8|37=O1|11=C1|150=F|9999=x|58=|1=A"
    assert OutMessage.of_fields("S", "D", [(150, "0")]).body() == "150=0"  # a tag seen before
