# The legacy redirect, driven by the edge dictionary `redirects` (versionless):
#   mode: off | 301 | 302      percent: 0..100 of paths (by a hash of the path)
#   prefixes: up to 4 comma-separated path prefixes ("/" = every path)
#   target_host: where to (path and query kept)
declare local var.mode STRING;
declare local var.prefixes STRING;
declare local var.prefix STRING;
declare local var.matched BOOL;
declare local var.bucket INTEGER;
set var.mode = table.lookup(redirects, "mode", "off");
if ((var.mode == "301" || var.mode == "302") && (req.method == "GET" || req.method == "HEAD")) {
  set var.prefixes = table.lookup(redirects, "prefixes", "/") ",";
  set var.prefix = regsub(var.prefixes, "^ *([^,]*?) *,.*$", "\1");
  if (var.prefix != "" && std.prefixof(req.url.path, var.prefix)) { set var.matched = true; }
  set var.prefixes = regsub(var.prefixes, "^[^,]*,", "");
  set var.prefix = regsub(var.prefixes, "^ *([^,]*?) *,.*$", "\1");
  if (var.prefix != "" && std.prefixof(req.url.path, var.prefix)) { set var.matched = true; }
  set var.prefixes = regsub(var.prefixes, "^[^,]*,", "");
  set var.prefix = regsub(var.prefixes, "^ *([^,]*?) *,.*$", "\1");
  if (var.prefix != "" && std.prefixof(req.url.path, var.prefix)) { set var.matched = true; }
  set var.prefixes = regsub(var.prefixes, "^[^,]*,", "");
  set var.prefix = regsub(var.prefixes, "^ *([^,]*?) *,.*$", "\1");
  if (var.prefix != "" && std.prefixof(req.url.path, var.prefix)) { set var.matched = true; }
  # the path's bucket: the first 4 bytes of its sha256, mod 100
  set var.bucket = std.strtol(substr(digest.hash_sha256(req.url.path), 0, 8), 16);
  set var.bucket %= 100;
  if (var.matched && var.bucket < std.atoi(table.lookup(redirects, "percent", "100"))) {
    set req.http.X-Redirect-Status = var.mode;
    error 801 "redirect";
  }
}
