"""Who is asking: the user behind a `Authorization: Bearer TOKEN` header."""

# No `from __future__ import annotations` here: FastAPI reads the dependency's annotations at runtime.

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from console.server.directory import Directory, User


def user_dependency(directory: Directory) -> Callable[[Request], Awaitable[User]]:
    async def current_user(request: Request) -> User:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                detail={
                    "status": "unauthorized",
                    "message": "Send a user token as Authorization: Bearer TOKEN.",
                    "errors": ["Authorization: required"],
                },
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = await directory.user(token.strip())
        if user is None:
            raise HTTPException(
                403,
                detail={
                    "status": "forbidden",
                    "message": "The token is not known here.",
                    "errors": ["Authorization: unknown token"],
                },
            )
        return user

    return current_user
