// id: finding:GT-DEF-004
// Account left its organization (critical): each LeaveOrganization in the window, in time order: a success is critical, a denied attempt
// medium (someone tried to escape the organization's guardrails).
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {since: null, until: null}
MATCH (g:Call)
WHERE g.event_name = 'LeaveOrganization'
  AND ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
UNWIND range(0, size(g.event_ids) - 1) AS i
WITH g, i, g.times_us[i] AS time_us
WHERE ($since IS NULL OR time_us >= $since) AND ($until IS NULL OR time_us <= $until)
WITH {event_id: g.event_ids[i], time_us: time_us, actor: g.actor, error_code: g.error_code,
      recipient_account_id: g.recipient_account_id} AS c
WITH c, CASE WHEN coalesce(c.recipient_account_id, '') = '' THEN '(unknown)'
             ELSE c.recipient_account_id END AS account
RETURN CASE WHEN c.error_code IS NULL THEN 'account ' + account + ' left'
            ELSE 'denied attempt to leave the organization from ' + account + ' ('
                 + CASE WHEN c.error_code = '' THEN '(unknown)' ELSE c.error_code END + ')' END AS summary,
       CASE WHEN c.error_code IS NULL THEN null ELSE 'medium' END AS severity,
       CASE WHEN c.error_code IS NULL THEN [] ELSE ['denied'] END AS key,
       [c.event_id] AS event_ids,
       [a IN [c.actor] WHERE a IS NOT NULL] AS actors,
       [a IN [c.recipient_account_id] WHERE a IS NOT NULL] AS accounts,
       c.time_us AS first_us, c.time_us AS last_us, 1 AS count
ORDER BY c.time_us, c.event_id
