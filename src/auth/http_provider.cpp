// Written by the http_provider helper (issue 20).
