# The synthetic answer of the legacy redirect (error 801 from vcl_recv).
if (obj.status == 801) {
  set obj.status = std.atoi(req.http.X-Redirect-Status);
  set obj.http.Location = "{scheme}://" table.lookup(redirects, "target_host", "pypi.org") req.url;
  set obj.http.Content-Type = "text/html; charset=utf-8";
  synthetic {"<a href=""} obj.http.Location {"">Moved</a>"} LF;
  return(deliver);
}
