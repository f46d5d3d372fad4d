"""Expiry warnings: one e-mail to a workspace's owner as its expiry comes near.

A workspace is due once it expires within ``MLHUB_EXPIRY_WARNING_HOURS`` and its owner has
not been warned of that expiry (``Workspace.expiry_warned_for``). Extending it moves
``expires_at`` away from what was warned of, so the new expiry is warned of in its turn.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F

from portal.accounts.models import User
from portal.audit.log import Result, record
from portal.workspaces.models import Workspace

log = logging.getLogger(__name__)
ACTION = "workspace.expiry-warning"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def expiry_warning_message(workspace: Workspace) -> tuple[str, str]:
    """The subject and the body of the e-mail about ``workspace``'s expiry."""
    brand, when = settings.BRAND_NAME, _when(workspace.expires_at)
    subject = f"{brand}: your workspace {workspace.name} expires on {when}"
    body = (
        f"Hello {workspace.owner.username},\n\n"
        f"your workspace {workspace.name} on {brand} expires on {when}. Once it has expired"
        f" it may be deleted, with its files.\n\n"
        f'To keep it, extend it on "My workspaces":\n{settings.SITE_URL}/\n'
    )
    return subject, body


def expiry_warnings_send() -> str:
    """E-mail the owner of every workspace that is due a warning, once per expiry.

    Owners who may not act (not approved, deactivated, being deleted) are left out: they
    could not extend it. Owners without an e-mail address are skipped and counted, and are
    not marked warned (an address added in time still gets the warning). Each warning is
    claimed in the database before it is sent, so two passes at once send it once.

    One SMTP connection per warning (Django's ``EMAIL_TIMEOUT`` each). An address the mail
    server refuses is not tried again for this expiry; any other failure (the server down,
    TLS, a dropped connection) gives the claim back and ends the pass, since the rest would
    fail alike: the next pass tries again.
    """
    if not settings.EXPIRY_WARNING_HOURS:
        return "expiry warnings are off"
    due = (
        Workspace.objects.expiring_soon()
        .filter(
            deleting_since=None,
            owner__is_active=True,
            owner__approval=User.Approval.APPROVED,
            owner__deleting_since=None,
        )
        .exclude(expiry_warned_for=F("expires_at"))
        .select_related("owner")
        .order_by("expires_at")
    )
    sent = no_address = refused = 0
    stopped = ""
    for workspace in due:
        address = workspace.owner.email
        if not address:
            no_address += 1
            continue
        # Ours only while it still has this expiry and no other pass has taken it.
        claimed = (
            Workspace.objects.filter(pk=workspace.pk, expires_at=workspace.expires_at)
            .exclude(expiry_warned_for=F("expires_at"))
            .update(expiry_warned_for=workspace.expires_at)
        )
        if not claimed:
            continue
        subject, body = expiry_warning_message(workspace)
        try:
            send_mail(subject, body, None, [address])
        except smtplib.SMTPRecipientsRefused as error:
            refused += 1
            _failed(workspace, f"{address} refused by the mail server: {error.recipients}")
            continue
        except (smtplib.SMTPException, OSError) as error:
            Workspace.objects.filter(pk=workspace.pk).update(
                expiry_warned_for=workspace.expiry_warned_for
            )
            stopped = f"not sent to {address}: {error}"
            _failed(workspace, stopped)
            break
        record(
            by=None,
            action=ACTION,
            target=str(workspace),
            detail=f"e-mailed {address}: expires {_when(workspace.expires_at)}",
        )
        sent += 1
    report = f"{sent} warned, {no_address} without an e-mail address"
    if refused:
        report += f", {refused} refused by the mail server"
    return f"{report}; stopped, {stopped}" if stopped else report


def _failed(workspace: Workspace, detail: str) -> None:
    log.warning("Expiry warning for %s: %s", workspace, detail)
    record(by=None, action=ACTION, target=str(workspace), result=Result.FAILED, detail=detail)
