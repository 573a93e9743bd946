"""The audit log's writer: ``record`` adds one row to ``audit_events`` (who, in which role, did what
to which object, why, from which client) in the caller's transaction, so the row commits with the
action it records. Sign-ins and lockouts, evidence requests and views, report downloads and registry
imports are recorded; the table is append-only (a database trigger refuses changes) and the auditor
reads it at /api/audit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from humiao.hub.access import Principal
from humiao.hub.tables import AuditEvent, utcnow


def record(
    session: Session, who: Principal, action: str, object_type: str, object_id: str, why: str = "", client: str = ""
) -> None:
    """Add the event to ``session`` (the caller commits); ``client`` is cut to the column's 64 characters."""
    session.add(
        AuditEvent(
            at=utcnow(),
            user_id=who.user_id,
            role=who.role,
            action=action,
            object_type=object_type,
            object_id=object_id,
            why=why,
            client=client[:64],
        )
    )
