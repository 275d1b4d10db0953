"""The object store: the ``pypi-files`` bucket, S3-style.

It answers only requests whose Host is the bucket host and that carry a valid AWS
signature version 2: ``Authorization: AWS <key id>:<base64 HMAC-SHA1>`` of
``METHOD\\n\\n\\n<Date header>\\n/<bucket>/<key>`` (Content-MD5 and Content-Type are
empty for GET/HEAD). The clock skew of the Date header is not checked (the lab must
not depend on wall-clock time).

- wrong Host: 404 ``NoSuchBucket``
- missing or bad signature: 403 ``AccessDenied`` / ``SignatureDoesNotMatch``
- unknown key: 404 ``NoSuchKey``
- otherwise: 200 with the bytes, an ETag and a long ``Cache-Control``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate

from cutover.lab.hostnames import BUCKET_HOST
from cutover.lab.messages import Request, Response, text_response
from cutover.lab.packages import Catalog

BUCKET = "pypi-files"
ACCESS_KEY_ID = "AKIALABPYPIFILES0001"
SECRET_KEY = "lab-secret-key-for-the-pypi-files-bucket"  # a lab constant, not a secret


def string_to_sign(method: str, date: str, path: str) -> str:
    return f"{method}\n\n\n{date}\n/{BUCKET}{path}"


def signature_v2(method: str, date: str, path: str, secret: str = SECRET_KEY) -> str:
    mac = hmac.new(secret.encode(), string_to_sign(method, date, path).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def sign_request(request: Request) -> Request:
    """Rewrite Host to the bucket host and sign, as the CDN's files logic does."""
    date = formatdate(usegmt=True)
    fetch_method = "GET" if request.method == "HEAD" else request.method
    signature = signature_v2(fetch_method, date, request.path)
    return request.with_headers(
        host=BUCKET_HOST,
        date=date,
        authorization=f"AWS {ACCESS_KEY_ID}:{signature}",
    )


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>LAB0000000000000</RequestId></Error>"
    )
    return text_response(status, body, content_type="application/xml")


class ObjectStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def handle(self, request: Request) -> Response:
        if request.host != BUCKET_HOST:
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        if request.method not in ("GET", "HEAD"):
            return _s3_error(405, "MethodNotAllowed", "The method is not allowed")
        authorization = request.headers.get("authorization", "")
        date = request.headers.get("date", "")
        if not authorization.startswith("AWS ") or not date:
            return _s3_error(403, "AccessDenied", "Access Denied")
        key_id, _, given = authorization[4:].partition(":")
        expected = signature_v2("GET", date, request.path)
        if key_id != ACCESS_KEY_ID or not hmac.compare_digest(given, expected):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        found = self.catalog.by_url_path(request.path)
        if found is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(
            200,
            [
                ("Content-Type", found.content_type),
                ("ETag", f'"{found.md5}"'),
                ("Cache-Control", "max-age=365000000, immutable, public"),
                ("Last-Modified", "Mon, 16 Apr 2018 12:00:00 GMT"),
                ("x-amz-request-id", "LAB0000000000000"),
            ],
            found.content,
        )
