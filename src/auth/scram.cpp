// Written by the scram helper (issue 20).
