// id: finding:GT-DEF-001
// CloudTrail logging stopped or trail deleted (critical): each successful StopLogging or DeleteTrail in the window, one finding a call, in time order,
// with the credential that made it. (The lineage of each actor: cypher/lineage_path.cypher.)
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {since: null, until: null}
MATCH (g:Call)
WHERE g.event_name IN ['StopLogging', 'DeleteTrail'] AND g.error_code IS NULL
  AND ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, i, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
WITH {event_id: g.event_ids[i], time_us: time_us, actor: g.actor, event_name: g.event_name,
      resource: g.resource, recipient_account_id: g.recipient_account_id} AS c
RETURN c.event_name + ' ' + CASE WHEN coalesce(c.resource, '') = '' THEN '(unknown)' ELSE c.resource END AS summary,
       null AS severity, [c.event_id] AS key, [c.event_id] AS event_ids,
       [a IN [c.actor] WHERE a IS NOT NULL] AS actors,
       [a IN [c.recipient_account_id] WHERE a IS NOT NULL] AS accounts,
       c.time_us AS first_us, c.time_us AS last_us, 1 AS count
ORDER BY c.time_us, c.event_id
