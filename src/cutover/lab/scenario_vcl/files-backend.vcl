# Hash paths (/packages/xx/yy/<60 hex>/<file>) come from the object store, everything
# else from conveyor.
if (req.url.path ~ "^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$") {
  set req.backend = F_S3;
} else {
  set req.backend = F_Conveyor;
}
