# Rewrite Host to the bucket and sign (AWS signature v2) every fetch of a hash path.
# THE 2018 BUG: this runs on every node, also on the edge whose backend is the shield:
# the shield then receives Host: pypi-files.s3.amazonaws.com and runs whichever service
# claims that host.
if (req.url.path ~ "^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$") {
  set bereq.http.Host = "pypi-files.s3.amazonaws.com";
  set bereq.http.Date = now;
  set bereq.http.Authorization = "AWS " table.lookup(aws, "access_key") ":"
    digest.hmac_sha1_base64(table.lookup(aws, "secret_key"),
      "GET" LF LF LF now LF "/pypi-files" req.url.path);
}
