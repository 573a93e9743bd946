"""Device enrolment over HTTP, for administrators (``devices.manage``): the enrolled keys, enrolling a
device's request (the file ``humiao edge enroll`` wrote, uploaded as JSON) and revoking a device.
The same service as ``humiao hub devices`` (hub/devices.py), audited there."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from humiao.hub import devices
from humiao.hub.deps import PrincipalDep, client, hub_of, require
from humiao.hub.tables import DeviceKey
from humiao.proto import signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest

router = APIRouter(prefix="/api/devices")


class DeviceKeyOut(BaseModel):
    device: str = Field(description="district/venue/device")
    key_id: str
    fingerprint: str
    username: str
    enrolled_at: datetime
    enrolled_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


class DeviceKeys(BaseModel):
    keys: list[DeviceKeyOut]


class Enrolment(BaseModel):
    request: dict = Field(description="the device's enrolment request, as `humiao edge enroll` wrote it")
    replace: bool = Field(False, description="revoke the device's current key")


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


def _out(k: DeviceKey) -> DeviceKeyOut:
    return DeviceKeyOut(
        device=k.device_key,
        key_id=k.key_id,
        fingerprint=signing.fingerprint(signing.public_from_text(k.public_key)),
        username=k.username,
        enrolled_at=k.enrolled_at,
        enrolled_by=k.enrolled_by,
        revoked_at=k.revoked_at,
        revoked_by=k.revoked_by,
        revoke_reason=k.revoke_reason,
    )


@router.get("/keys")
def list_keys(request: Request, who: PrincipalDep) -> DeviceKeys:
    require(who, "devices.manage")
    with hub_of(request).sessions() as s:
        return DeviceKeys(keys=[_out(k) for k in devices.listing(s)])


@router.post("/enrol")
async def enrol(request: Request, who: PrincipalDep, body: Enrolment) -> DeviceKeyOut:
    require(who, "devices.manage")
    hub = hub_of(request)
    try:
        req = EnrolmentRequest.load(json.dumps(body.request))
    except EnrolmentError as err:
        raise HTTPException(400, str(err)) from None

    def work() -> DeviceKeyOut:
        with hub.sessions() as s, hub.broker_rights() as broker:
            return _out(devices.enroll(s, broker, req, hub.cfg, who, body.replace, client(request)))

    try:
        return await run_in_threadpool(work)
    except EnrolmentError as err:
        raise HTTPException(409, str(err)) from None
    except devices.BrokerUnavailable as err:
        raise HTTPException(502, f"nothing enrolled: the broker did not take the device's identity ({err})") from None


@router.post("/{district}/{venue}/{device}/revoke")
async def revoke(
    request: Request, who: PrincipalDep, district: str, venue: str, device: str, body: Revocation
) -> DeviceKeyOut:
    require(who, "devices.manage")
    hub = hub_of(request)

    def work() -> DeviceKeyOut:
        with hub.sessions() as s:  # at the hub first: refused from now on, whatever the broker says
            # an already revoked key: the broker step is done again (it may have failed the first time)
            row = devices.revoked_or_revoke(s, f"{district}/{venue}/{device}", who, body.reason, client(request))
            out = _out(row)
        with hub.broker_rights() as broker:
            broker.disable(out.username)
        return out

    try:
        return await run_in_threadpool(work)
    except EnrolmentError as err:
        raise HTTPException(404, str(err)) from None
    except devices.BrokerUnavailable as err:
        raise HTTPException(
            502, f"revoked at the hub (its messages are refused); the broker did not confirm the cut-off: {err}"
        ) from None
