// Written by the jwt_keys helper (issue 20).
