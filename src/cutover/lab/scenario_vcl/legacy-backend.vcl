# Legacy serves hash paths from the object store itself, everything else from the app.
if (req.url.path ~ "^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$") {
  set req.backend = F_S3;
} else {
  set req.backend = F_Legacy;
}
