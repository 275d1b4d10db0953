# Rewrite Host to the bucket and sign (AWS signature v2) only when this node fetches
# from the object store itself (not when its backend is the shield).
if (req.backend.is_origin && req.url.path ~ "^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$") {
  set bereq.http.Host = "pypi-files.s3.amazonaws.com";
  set bereq.http.Date = now;
  set bereq.http.Authorization = "AWS " table.lookup(aws, "access_key") ":"
    digest.hmac_sha1_base64(table.lookup(aws, "secret_key"),
      "GET" LF LF LF now LF "/pypi-files" req.url.path);
}
