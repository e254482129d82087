"""API routes of the auth module."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import _bearer, public, requires, signed_in
from pharmos.auth import service
from pharmos.auth.schemas import (
    ApiTokenCreatedOut,
    ApiTokenIn,
    ApiTokenOut,
    MeOut,
    PasswordChangeIn,
    ReasonIn,
    RoleGrantIn,
    RoleOut,
    TemporaryPasswordOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from pharmos.core.actor import Actor

api = APIRouter(prefix="/api/v1", tags=["auth"])


def _user_out(v: service.UserView) -> UserOut:
    return UserOut(**{**asdict(v), "roles": list(v.roles)})


@api.post("/auth/token", response_model=TokenOut)
def issue_token(body: TokenIn, request: Request, _: Annotated[Actor, Depends(public())]) -> TokenOut:
    result = service.login(username=body.username, password=body.password, otp=body.otp, kind="api",
                           client=request.client.host if request.client else None)
    return TokenOut(access_token=result.token, expires_at=result.expires_at, idle_timeout_minutes=result.idle_minutes,
                    must_change_password=result.actor.must_change_password)


@api.post("/auth/logout", status_code=204)
def revoke_token(request: Request,
                 _: Annotated[Actor, Depends(signed_in(allow_password_change_pending=True))]) -> Response:
    token = _bearer(request) or request.cookies.get("pharmos_session") or ""
    service.logout(token=token)
    return Response(status_code=204)


@api.get("/auth/me", response_model=MeOut)
# No database work here: the policy already resolved the caller, so stay on the event loop.
async def me(actor: Annotated[Actor, Depends(signed_in(allow_password_change_pending=True))]) -> MeOut:
    return MeOut(username=actor.username, full_name=actor.full_name, language=actor.language,
                 permissions=sorted(actor.permissions), must_change_password=actor.must_change_password)


@api.post("/auth/password", status_code=204)
def change_password(body: PasswordChangeIn,
                    actor: Annotated[Actor, Depends(signed_in(allow_password_change_pending=True))]) -> Response:
    service.change_password(actor=actor, current_password=body.current_password, new_password=body.new_password)
    return Response(status_code=204)


@api.get("/users", response_model=Page[UserOut])
def list_users(actor: Annotated[Actor, Depends(requires("auth.view_users"))], page: Annotated[PageParams, Depends()],
               active: bool | None = None, role: str | None = None) -> Page[UserOut]:
    users = service.list_users(actor=actor, active=active, role=role, after_id=page.after_id,
                               limit=page.limit + 1)
    return page.page([_user_out(u) for u in users], lambda u: u.id)


@api.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, actor: Annotated[Actor, Depends(requires("auth.manage_users"))]) -> UserOut:
    return _user_out(service.create_user(actor=actor, username=body.username, full_name=body.full_name,
                                         password=body.password, email=body.email, language=body.language,
                                         department=body.department, roles=body.roles))


@api.get("/users/{username}", response_model=UserOut)
def get_user(username: str, actor: Annotated[Actor, Depends(requires("auth.view_users"))]) -> UserOut:
    return _user_out(service.get_user(actor=actor, username=username))


@api.post("/users/{username}/deactivate", status_code=204)
def deactivate_user(username: str, body: ReasonIn,
                    actor: Annotated[Actor, Depends(requires("auth.manage_users"))]) -> Response:
    service.deactivate_user(actor=actor, username=username, reason=body.reason)
    return Response(status_code=204)


@api.post("/users/{username}/unlock", status_code=204)
def unlock_user(username: str, body: ReasonIn,
                actor: Annotated[Actor, Depends(requires("auth.manage_users"))]) -> Response:
    service.unlock_user(actor=actor, username=username, reason=body.reason)
    return Response(status_code=204)


@api.post("/users/{username}/reset-password", response_model=TemporaryPasswordOut)
def reset_password(username: str, body: ReasonIn,
                   actor: Annotated[Actor, Depends(requires("auth.manage_users"))]) -> TemporaryPasswordOut:
    temp = service.reset_password(actor=actor, username=username, reason=body.reason)
    return TemporaryPasswordOut(username=username, temporary_password=temp)


@api.post("/users/{username}/roles", status_code=204)
def grant_role(username: str, body: RoleGrantIn,
               actor: Annotated[Actor, Depends(requires("auth.manage_roles"))]) -> Response:
    service.grant_role(actor=actor, username=username, role=body.role, reason=body.reason)
    return Response(status_code=204)


@api.delete("/users/{username}/roles/{role}", status_code=204)
def revoke_role(username: str, role: str,
                actor: Annotated[Actor, Depends(requires("auth.manage_roles"))],
                reason: Annotated[str | None, Query(max_length=2000, description="Reason for change")] = None,
                ) -> Response:
    service.revoke_role(actor=actor, username=username, role=role, reason=reason)
    return Response(status_code=204)


@api.get("/roles", response_model=list[RoleOut])
def list_roles(actor: Annotated[Actor, Depends(requires("auth.view_users"))]) -> list[RoleOut]:
    return [RoleOut(**{**asdict(r), "permissions": list(r.permissions), "members": list(r.members)})
            for r in service.list_roles(actor=actor)]


@api.get("/auth/api-tokens", response_model=list[ApiTokenOut])
def list_api_tokens(actor: Annotated[Actor, Depends(signed_in())]) -> list[ApiTokenOut]:
    return [ApiTokenOut(**{**asdict(t), "scopes": list(t.scopes)}) for t in service.list_api_tokens(actor=actor)]


@api.post("/auth/api-tokens", response_model=ApiTokenCreatedOut, status_code=201)
def create_api_token(body: ApiTokenIn, actor: Annotated[Actor, Depends(signed_in())]) -> ApiTokenCreatedOut:
    token, view = service.create_api_token(actor=actor, name=body.name, scopes=body.scopes,
                                           expires_days=body.expires_days)
    return ApiTokenCreatedOut(**{**asdict(view), "scopes": list(view.scopes)}, token=token)


@api.delete("/auth/api-tokens/{token_id}", status_code=204)
def revoke_api_token(token_id: int, actor: Annotated[Actor, Depends(signed_in())]) -> Response:
    service.revoke_api_token(actor=actor, token_id=token_id)
    return Response(status_code=204)
