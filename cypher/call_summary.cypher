// id: seeds
// Calls grouped by who made them, from where, in which account and region: first and last seen, calls, errors.
// $since     epoch microseconds (UTC), or null
// $until     epoch microseconds (UTC), or null
// $account   an account id: only calls recorded in it or made from it, or null
// :params {since: null, until: null, account: null}
MATCH (c:Call)
WHERE ($since IS NULL OR c.time_us >= $since)
  AND ($until IS NULL OR c.time_us <= $until)
  AND ($account IS NULL OR c.recipient_account_id = $account OR c.account_id = $account)
RETURN c.actor AS actor, c.source_ip AS source_ip, c.recipient_account_id AS recipient_account_id,
       c.region AS region, min(c.time_us) AS first, max(c.time_us) AS last, count(c) AS calls,
       sum(CASE WHEN c.error_code IS NULL THEN 0 ELSE 1 END) AS errors
ORDER BY actor, source_ip, recipient_account_id, region
