"""Reports for download: /api/reports/<district>/<period>.<csv|xlsx|pdf> (downloads audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from hub import reports
from hub.access import Target
from hub.auth import audit
from hub.deps import client, hub_of, principal, require

router = APIRouter(prefix="/api")


@router.get("/reports/{district}/{period}.{fmt}")
def download(district: str, period: str, fmt: str, request: Request, who=Depends(principal)) -> Response:
    require(who, "reports.read", Target(district, None, (who.department,) if who.department else ()))
    if fmt not in reports.FORMATS:
        raise HTTPException(404, f"format must be one of {', '.join(reports.FORMATS)}")
    try:
        p = reports.Period.parse(period)
    except reports.ReportError as err:
        raise HTTPException(422, str(err)) from None
    hub = hub_of(request)
    with hub.sessions() as s:
        data, mime = reports.render(reports.figures(s, district, p, hub.calendar), fmt)
        audit(s, who, "report.download", "report", f"{district}/{p.label}.{fmt}", "", client(request))
        s.commit()
    return Response(data, media_type=mime, headers={
        "Content-Disposition": f'attachment; filename="humiao-{district}-{p.label}.{fmt}"', "Cache-Control": "no-store"})
