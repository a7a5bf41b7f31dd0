"""What the object-storage tests share: the test keys and the running server's description."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

ACCESS_KEY = "lbassets-test-access-key"
SECRET_KEY = "lbassets-test-secret-3f9a1c"  # distinctive, so tests can look for it in errors and logs
REGION = "us-east-1"


@dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server and its bucket."""

    endpoint: str
    bucket: str

    def client(self) -> Any:
        """A boto3 client of the server (the test's own keys)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        """An object's content."""
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def new_prefix(self) -> str:
        """A prefix no other test uses."""
        return f"t-{uuid.uuid4().hex[:12]}"
