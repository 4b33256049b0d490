"""The notice kinds, and which act calls for which: shared by the settings (webhook filters), the
context builder and the notice service."""

from __future__ import annotations

__all__ = ["CASE_KINDS", "KINDS", "KIND_TRIGGERS", "ROUND_KINDS", "TRIGGER_KINDS"]

KINDS = (
    "publicity",
    "recognition",
    "renewal",
    "revocation",
    "return",
    "report_reminder",
    "expiry_reminder",
)
#: Which act produces which notice. Reminders are recorded by the scheduler when a reminder
#: deadline fires (``engine/sweep.py``): trigger ``report_reminder`` with payload ``{year,
#: report_due}`` and ``expiry_reminder`` with ``{valid_until}``; the names first agreed,
#: ``remind_report`` (``{year, due}``) and ``remind_expiry``, are accepted as well.
TRIGGER_KINDS = {
    "publicize_round": "publicity",
    "recognize_round": "recognition",
    "renew": "renewal",
    "revoke": "revocation",
    "return": "return",
    "report_reminder": "report_reminder",
    "remind_report": "report_reminder",
    "expiry_reminder": "expiry_reminder",
    "remind_expiry": "expiry_reminder",
}
KIND_TRIGGERS: dict[str, tuple[str, ...]] = {}
for _trigger, _kind in TRIGGER_KINDS.items():
    KIND_TRIGGERS[_kind] = (*KIND_TRIGGERS.get(_kind, ()), _trigger)
del _trigger, _kind
ROUND_KINDS = frozenset({"publicity", "recognition", "renewal"})
CASE_KINDS = frozenset({"renewal", "revocation", "return", "report_reminder", "expiry_reminder"})
