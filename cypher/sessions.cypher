// Every session (one issued temporary credential): key, issue and expiry, issuer, principal.
// No parameters.
// :params {}
MATCH (s:Session)
RETURN properties(s) AS session
