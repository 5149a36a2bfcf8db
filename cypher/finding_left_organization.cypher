// id: finding:GT-DEF-004
// Account left its organization (critical): each LeaveOrganization in the window, in time order: a success is critical, a denied attempt
// medium (someone tried to escape the organization's guardrails).
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {since: null, until: null}
MATCH (c:Call)
WHERE c.event_name = 'LeaveOrganization'
  AND ($since IS NULL OR c.time_us >= $since) AND ($until IS NULL OR c.time_us <= $until)
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
