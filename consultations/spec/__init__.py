"""Consultation specs: the file a health service writes to describe a consultation.

- :mod:`consultations.spec.model`: the spec as frozen dataclasses (:class:`ConsultationSpec`,
  :class:`Item`, :class:`Segment`, :class:`ChannelLimits`, ...);
- :mod:`consultations.spec.validation`: the checks, which report every problem with its
  field path and take the limits of each channel as a parameter;
- :mod:`consultations.spec.loading`: reading YAML or JSON (:func:`load_spec_file`,
  :func:`load_spec`, :func:`parse_spec`), raising :class:`SpecError`.

The public names of all three are re-exported here: ``from consultations.spec import X``.
"""

from consultations.spec.loading import (
    SpecError,
    load_spec,
    load_spec_file,
    parse_spec,
    read_spec_file,
)
from consultations.spec.model import (
    CHANNELS,
    DEFAULT_RETENTION,
    ID_MAX_LENGTH,
    ID_PATTERN,
    ITEM_TYPES,
    MODERATIONS,
    QI,
    REGIONS,
    STAGES,
    VISIBILITIES,
    ChannelLimits,
    Consent,
    ConsultationSpec,
    Helpline,
    Item,
    ItemType,
    MastodonSettings,
    Moderation,
    Region,
    SafetySettings,
    Segment,
    Stage,
    TelegramSettings,
    Visibility,
    format_duration,
    is_valid_id,
    parse_duration,
)
from consultations.spec.outreach import FollowUp, QuietHours, Reminder
from consultations.spec.validation import (
    DRAFT_PLACEHOLDERS,
    ROOT,
    Problem,
    Validation,
    unfinished,
    validate,
)

__all__ = [
    "CHANNELS",
    "DRAFT_PLACEHOLDERS",
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "ITEM_TYPES",
    "MODERATIONS",
    "QI",
    "REGIONS",
    "ROOT",
    "STAGES",
    "VISIBILITIES",
    "ChannelLimits",
    "Consent",
    "FollowUp",
    "ConsultationSpec",
    "Helpline",
    "Item",
    "ItemType",
    "MastodonSettings",
    "Moderation",
    "Problem",
    "QuietHours",
    "Region",
    "Reminder",
    "SafetySettings",
    "Segment",
    "SpecError",
    "Stage",
    "TelegramSettings",
    "Validation",
    "Visibility",
    "is_valid_id",
    "format_duration",
    "parse_duration",
    "DEFAULT_RETENTION",
    "load_spec",
    "load_spec_file",
    "read_spec_file",
    "parse_spec",
    "unfinished",
    "validate",
]
