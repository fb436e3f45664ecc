from __future__ import annotations

from typing import cast

from django import forms

from consents.services import WITHDRAW_AND_DELETE, WITHDRAW_AND_DISCONNECT, WITHDRAW_ONLY


class LinkableRadioSelect(forms.RadioSelect):
    """Radios whose group answers to the first radio's id, so that the error summary's link
    (`#{{ field.id_for_label }}`) goes to the question; Django gives a radio group no id of its
    own, and the link would be a bare "#"."""

    def id_for_label(self, id_, index=None):
        return super().id_for_label(id_, "0" if index is None else index)


class GrantForm(forms.Form):
    """Only the explicit agreement comes from the form. The product, the wording shown and the
    data types are the server's (C3, B4): any other posted field is ignored."""

    agree = forms.BooleanField(
        label="I'm happy to share this data",
        error_messages={"required": "Tick the box to agree, or go back if you'd rather not."},
    )


class WithdrawForm(forms.Form):
    choice = forms.ChoiceField(
        label="What would you like to do?",
        widget=LinkableRadioSelect,
        error_messages={"required": "Choose one of the options."},
    )

    def __init__(self, *args, can_disconnect: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(WITHDRAW_ONLY, "Withdraw my consent only")]
        if can_disconnect:
            choices += [
                (
                    WITHDRAW_AND_DISCONNECT,
                    "Withdraw, and also pause the connections nothing else needs "
                    "(you can connect them again later)",
                ),
                (
                    WITHDRAW_AND_DELETE,
                    "Withdraw, and also disconnect them for good and delete their data at Codat",
                ),
            ]
        cast(forms.ChoiceField, self.fields["choice"]).choices = choices
