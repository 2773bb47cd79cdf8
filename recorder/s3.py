"""S3-compatible object storage on aiobotocore (AWS, MinIO, moto in tests)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from .errors import RecorderCode, RecorderError
from .storage import checked_key


class S3Store:
    def __init__(self, client: Any, exit_stack: contextlib.AsyncExitStack, bucket: str) -> None:
        self._client = client
        self._stack = exit_stack
        self.bucket = bucket

    @classmethod
    async def connect(
        cls, bucket: str, *, endpoint: str | None = None, region: str = "us-east-1",
        access_key: str | None = None, secret_key: str | None = None,
    ) -> S3Store:
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(get_session().create_client(
            "s3", region_name=region, endpoint_url=endpoint or None,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key))
        return cls(client, stack, bucket)

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        try:
            await self._client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                    "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def put(self, key: str, data: bytes) -> None:
        await self._client.put_object(Bucket=self.bucket, Key=checked_key(key), Body=data)

    async def get(self, key: str) -> bytes:
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=checked_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise RecorderError(RecorderCode.NOT_FOUND, f"no object {key}") from exc
            raise RecorderError(RecorderCode.STORAGE, str(exc)) from exc
        async with response["Body"] as body:
            return bytes(await body.read())

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=checked_key(key))

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix.strip("/") + "/"):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    async def close(self) -> None:
        await self._stack.aclose()
