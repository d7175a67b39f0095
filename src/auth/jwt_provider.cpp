// Written by the jwt_provider helper (issue 20).
