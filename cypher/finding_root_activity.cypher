// id: finding:GT-INIT-001
// Root user activity (high): Calls made as an account's root user from an address (not by an AWS service on its behalf,
// and not by an AssumeRoot task session), one finding per account, accounts in the order of
// their first root call. An address is a source IP the graph holds as an IpAddress node.
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {since: null, until: null}
MATCH (g:Call)
WHERE g.identity_type = 'Root' AND g.recipient_account_id IS NOT NULL
  AND ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
  AND EXISTS { MATCH (:IpAddress {id: 'ip:' + g.source_ip}) }
  AND NOT EXISTS { MATCH (:Session {id: g.actor, via: 'AssumeRoot'}) }
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, i, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
WITH {event_id: g.event_ids[i], time_us: time_us, actor: g.actor,
      recipient_account_id: g.recipient_account_id} AS c
WITH c ORDER BY c.time_us, c.event_id
WITH c.recipient_account_id AS account, collect(c) AS calls
RETURN toString(size(calls)) + ' root calls in ' + account AS summary, null AS severity,
       [account] AS key, [c IN calls | c.event_id] AS event_ids,
       [c IN calls WHERE c.actor IS NOT NULL | c.actor] AS actors, [account] AS accounts,
       calls[0].time_us AS first_us, calls[size(calls) - 1].time_us AS last_us,
       size(calls) AS count
ORDER BY first_us, account
