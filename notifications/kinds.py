"""The notice kinds, and which act calls for which: shared by the settings (webhook filters), the
context builder and the notice service."""

from __future__ import annotations

__all__ = ["ALSO_KINDS", "BATCH_KINDS", "CASE_KINDS", "KINDS", "KIND_TRIGGERS", "ROUND_KINDS",
           "TRIGGER_KINDS"]

KINDS = (
    "publicity",
    "recognition",
    "renewal",
    "revocation",
    "revocation_proposal",
    "maintained",
    "reinstated",
    "return",
    "correction_reminder",
    "not_selected",
    "rejection",
    "report_reminder",
    "report_urge",
    "expiry_reminder",
    "review_notice",
    "review_result",
)
#: Which act produces which notice. Reminders are recorded by the scheduler when a reminder
#: deadline fires (``engine/sweep.py``): trigger ``report_reminder`` with payload ``{year,
#: report_due}``, ``expiry_reminder`` with ``{valid_until}`` and ``correction_reminder`` with
#: ``{correction_due}``; the names first agreed, ``remind_report`` (``{year, due}``) and
#: ``remind_expiry``, are accepted as well. ``close`` calls for a 未入选告知 only for a case
#: that was submitted, ``resolve`` for a 不予认定通知 only when it upholds the objection.
TRIGGER_KINDS = {
    "publicize_round": "publicity",
    "recognize_round": "recognition",
    "renew": "renewal",
    "revoke": "revocation",
    "propose_revocation": "revocation_proposal",
    "maintain": "maintained",
    "reinstate": "reinstated",
    "return": "return",
    "correction_reminder": "correction_reminder",
    "close": "not_selected",
    "reject": "rejection",
    "resolve": "rejection",
    "report_reminder": "report_reminder",
    "report_overdue": "report_urge",
    "remind_report": "report_reminder",
    "expiry_reminder": "expiry_reminder",
    "remind_expiry": "expiry_reminder",
    "review_notice": "review_notice",
    "fail_review": "review_result",
}
#: Acts that call for a second notice besides their own: a 复核 failed (``fail_review``)
#: opens the 拟撤销 procedure, so its 拟撤销告知书 goes with its 复核结果.
ALSO_KINDS: dict[str, tuple[str, ...]] = {"fail_review": ("revocation_proposal",)}
KIND_TRIGGERS: dict[str, tuple[str, ...]] = {}
for _trigger, _kind in TRIGGER_KINDS.items():
    KIND_TRIGGERS[_kind] = (*KIND_TRIGGERS.get(_kind, ()), _trigger)
for _trigger, _kinds in ALSO_KINDS.items():
    for _kind in _kinds:
        KIND_TRIGGERS[_kind] = (*KIND_TRIGGERS.get(_kind, ()), _trigger)
del _trigger, _kind, _kinds
#: The notices each round command's acts may issue (its own and its cases'): a batch checks
#: that it can issue every one of them before it moves its first case.
BATCH_KINDS: dict[str, tuple[str, ...]] = {
    "publicize_round": ("publicity", "not_selected"),
    "recognize_round": ("recognition", "not_selected"),
    "close_round": ("not_selected",),
    "open_review_round": ("review_notice",),
}
ROUND_KINDS = frozenset({"publicity", "recognition", "renewal"})
CASE_KINDS = frozenset({"renewal", "revocation", "revocation_proposal", "maintained",
                        "reinstated", "return", "correction_reminder", "not_selected",
                        "rejection", "report_reminder", "report_urge", "expiry_reminder",
                        "review_notice", "review_result"})
