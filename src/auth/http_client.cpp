// Written by the http_client helper (issue 20).
