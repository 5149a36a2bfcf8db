// id: seeds
// Calls grouped by who made them, from where, in which account and region: first and last seen, calls, errors.
// $since     epoch microseconds (UTC), or null
// $until     epoch microseconds (UTC), or null
// $account   an account id: only calls recorded in it or made from it, or null
// :params {since: null, until: null, account: null}
// A (:Call) node is a group of calls: each of its times in the window counts.
MATCH (g:Call)
WHERE ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
  AND ($account IS NULL OR g.recipient_account_id = $account OR g.account_id = $account)
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
RETURN g.actor AS actor, g.source_ip AS source_ip, g.recipient_account_id AS recipient_account_id,
       g.region AS region, min(time_us) AS first, max(time_us) AS last, count(*) AS calls,
       sum(CASE WHEN g.error_code IS NULL THEN 0 ELSE 1 END) AS errors
ORDER BY actor, source_ip, recipient_account_id, region
