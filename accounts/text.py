"""Names people type (a company, an organization, an instance, a contact) end up in
e-mail subjects, PDF lines and admin lists. A line break in one would let it forge an
e-mail header; Django refuses such a subject with BadHeaderError, after the action that
sends it has committed. So these names are refused on input (forms, services, models)
and, for rows saved before the rule, flattened on output (mail_subject_safe).

Here, low in the dependency order (portal -> billing -> fleet -> accounts), so every app
uses the one rule."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.deconstruct import deconstructible

# C0 controls (U+0000-U+001F: NUL, TAB, LF, CR, ...), DEL and the C1 controls
# (U+007F-U+009F, among them NEL U+0085, a line break to some mail readers), and the
# Unicode line and paragraph separators. TAB is refused too: nobody types one into a
# name on purpose, and a single rule is easier to explain than "all but TAB".
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

CONTROL_CHARACTERS_CODE = "control_characters"


def text_has_control_characters(value: str | None) -> bool:
    return bool(value) and CONTROL_CHARACTERS.search(value) is not None


def text_control_characters_message(*, label: str) -> str:
    """`label` as a person reads it, e.g. "company name"."""
    return f"The {label} cannot contain line breaks or control characters."


def text_refusal(*, value: str | None, label: str) -> str | None:
    """The message to show if `value` holds a control character, None if it is fine.
    Services raise their own error type (BillingError, FleetError...) with it."""
    if text_has_control_characters(value):
        return text_control_characters_message(label=label)
    return None


@deconstructible
class NoControlCharacters:
    """A form or model field validator: the same rule, the same message."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, value) -> None:
        message = text_refusal(value=value, label=self.label)
        if message:
            raise ValidationError(message, code=CONTROL_CHARACTERS_CODE)

    def __eq__(self, other) -> bool:
        return isinstance(other, NoControlCharacters) and other.label == self.label


def text_fields_validate(*, obj, labels: dict[str, str]) -> None:
    """For a model's clean(): one error per field (field name -> label) that holds a
    control character, so a ModelForm (the admin) shows it under that field."""
    errors = {}
    for field, label in labels.items():
        message = text_refusal(value=getattr(obj, field, ""), label=label)
        if message:
            errors[field] = ValidationError(message, code=CONTROL_CHARACTERS_CODE)
    if errors:
        raise ValidationError(errors)


def mail_subject_safe(value: str | None) -> str:
    """One line: every run of control characters and white space becomes one space. For
    e-mail headers, where a legacy name (stored before the rule) must not break the
    e-mail."""
    return " ".join(CONTROL_CHARACTERS.sub(" ", value or "").split())


class NoControlCharactersFormMixin:
    """For ModelForms (the admin): the rule on the form fields themselves, so that a NUL,
    which Django's own check already refuses ("Null characters are not allowed."), gets
    the same message as a line break. `control_character_labels`: field name -> label."""

    control_character_labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, label in self.control_character_labels.items():
            if field in self.fields:
                # Ours first, and Django's NUL check dropped: one message, not two.
                self.fields[field].validators = [NoControlCharacters(label)] + [
                    validator
                    for validator in self.fields[field].validators
                    if not isinstance(validator, ProhibitNullCharactersValidator)
                ]
