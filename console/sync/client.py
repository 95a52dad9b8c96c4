"""The sync endpoints over httpx, with every network failure translated into a KnownFailure the
console can show ("working offline"), never an httpx exception."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from console.domain.errors import KnownFailure
from console.domain.views import OutboxOp
from console.sync.wire import DEFAULT_PULL, SCHEMA_HEADER, SCHEMA_VERSION


class Offline(KnownFailure):
    """The server cannot be reached (or stopped answering): keep working, changes will sync."""


class ServerBusy(KnownFailure):
    """The server asked to retry later (429/503) or failed (5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenRefused(KnownFailure):
    """The server does not accept this console's token: log in again."""


class UpgradeRequired(KnownFailure):
    """The server and this console speak different schema versions."""


class CursorExpired(KnownFailure):
    """The server wants this replica to take a new snapshot."""


class ProtocolError(KnownFailure):
    """The server answered something this console cannot use (a 4xx it did not expect)."""


def _message(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
        return str(body.get("message") or response.reason_phrase)
    except (orjson.JSONDecodeError, AttributeError):
        return response.reason_phrase or f"HTTP {response.status_code}"


def _check(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    message = _message(response)
    if code in (401, 403):
        raise TokenRefused(f"The server refused this console's token: {message} Log in again.")
    if code == 410:
        raise CursorExpired(message)
    if code == 426:
        raise UpgradeRequired(message)
    if code in (429, 503) or code >= 500:
        retry = response.headers.get("retry-after", "")
        raise ServerBusy(
            f"The server is busy or failing ({code}): {message}", float(retry) if retry.isdigit() else None
        )
    raise ProtocolError(f"The server refused the request ({code}): {message}")


class SyncClient:
    """One console's connection to its server. `transport` lets tests put faults in the way."""

    def __init__(
        self,
        base_url: str,
        token: str,
        client_id: str,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", SCHEMA_HEADER: str(SCHEMA_VERSION)},
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            verify=verify,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = await self._http.request(method, path, **options)
        except httpx.TransportError as exc:  # connect, read, write, timeouts, protocol errors
            raise Offline(f"The server at {self.base_url} cannot be reached ({type(exc).__name__}).") from exc
        _check(response)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("The server's answer was not JSON.") from exc

    async def whoami(self) -> Mapping[str, Any]:
        result: Mapping[str, Any] = await self._request("GET", "/sync/whoami")
        return result

    async def push(self, ops: Sequence[OutboxOp]) -> Mapping[str, Any]:
        body = {
            "client_id": self.client_id,
            # ops are pushed in order and each answer is recorded before the next push: every op
            # before the first pending one has been answered
            "settled_through": ops[0].client_seq - 1 if ops else 0,
            "ops": [
                {
                    "client_seq": op.client_seq,
                    "op_id": op.op_id,
                    "type": op.type,
                    "entity_id": op.entity_id,
                    "args": dict(op.args),
                    "hlc": op.hlc,
                    "base_epoch": op.base_epoch,
                }
                for op in ops
            ],
        }
        result: Mapping[str, Any] = await self._request(
            "POST", "/sync/push", content=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )
        return result

    async def pull(self, cursor: str, limit: int = DEFAULT_PULL) -> Mapping[str, Any]:
        result: Mapping[str, Any] = await self._request(
            "GET", "/sync/pull", params={"cursor": cursor, "limit": limit}
        )
        return result

    async def pokes(self, last_seq: int = -1) -> AsyncIterator[int]:
        """The change log's seq each time the server says it moved; ends when the stream does.
        Raises Offline when the stream cannot be opened or breaks."""
        headers = {"Last-Event-ID": str(last_seq)} if last_seq >= 0 else {}
        timeout = httpx.Timeout(5.0, read=45.0)  # keep-alives come every 15 s: silence means a dead link
        try:
            async with aconnect_sse(
                self._http, "GET", "/sync/stream", headers=headers, timeout=timeout
            ) as source:
                _check(source.response)
                async for event in source.aiter_sse():
                    if event.data:
                        seq = orjson.loads(event.data).get("seq")
                        if isinstance(seq, int):
                            yield seq
        except (httpx.TransportError, SSEError) as exc:
            raise Offline(f"The server's change stream broke ({type(exc).__name__}).") from exc
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("The server's change stream sent something that is not JSON.") from exc
