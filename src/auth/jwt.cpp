// Written by the jwt helper (issue 20).
