// id: blast_radius
// Blast radius of an access key: every credential derived from it and every call they made,
// forward in time, in the window. Credentials: the key (a temporary key id: the sessions
// issued under it that could act in the window, those an issuance or a sign-in explains when
// there are any, the others listed in `excluded`; `recycled` lists them when AWS issued the id
// more than once), then everything reachable over DERIVES (written at push by
// cypher/derived_credentials.cypher: sessions issued at any depth, keys and users created,
// console sessions after a password was set) derived at or before $until. Sessions count when
// they acted or were issued in the window. `event_ids`: the calls of every credential in the
// window, both copies of each STS call that issued a session of the lineage, and the call that
// opened each seed credential (`issued_by`: its STS call, ConsoleLogin or CreateAccessKey).
// `events`: one row per eventID (a call outside the lineage: the opener's, else any opening
// call). Times are epoch microseconds.
// $access_key   the access key id (AKIA... or ASIA...)
// $since        epoch microseconds (UTC), or null
// $until        epoch microseconds (UTC), or null
// :params {access_key: 'AKIA52CAMQMUDNLGK7SQ', since: null, until: null}
OPTIONAL MATCH (seed:Graphtrail)
WHERE (seed:AccessKey AND NOT $access_key STARTS WITH 'ASIA' AND seed.id = 'key:' + $access_key)
   OR (seed:Session AND $access_key STARTS WITH 'ASIA'
       AND (seed.access_key_id = $access_key OR $access_key IN coalesce(seed.access_key_ids, []))
       AND (seed.issued_us IS NULL
            OR (($until IS NULL OR seed.issued_us <= $until)
                AND ($since IS NULL OR coalesce(seed.expires_us, seed.issued_us + 129600000000) >= $since))))
WITH collect(seed) AS found
WITH found, [s IN found WHERE s:Session AND coalesce(s.via, '') <> 'unknown'] AS known
WITH found, known,
     CASE WHEN size(known) > 0 AND size(known) < size(found) THEN known ELSE found END AS seeds
WITH seeds, [s IN seeds | s.id] AS seed_ids,
     CASE WHEN size(known) > 1 THEN [s IN known | {session: s.id, principal: s.principal,
                                                   issued_us: s.issued_us}] ELSE [] END AS recycled,
     [s IN found WHERE NOT s.id IN [k IN seeds | k.id] |
        {session: s.id, principal: s.principal, session_name: s.session_name,
         reason: coalesce(s.note, 'no issuance in the logs explains it')}] AS excluded
// every credential derived from the seeds, a derivation after $until cut off
UNWIND (CASE WHEN size(seeds) = 0 THEN [null] ELSE seeds END) AS s0
OPTIONAL MATCH (s0)-[steps:DERIVES*0..32]->(cred:Graphtrail)
WHERE all(d IN steps WHERE $until IS NULL OR d.time_us IS NULL OR d.time_us <= $until)
WITH seeds, seed_ids, recycled, excluded, collect(DISTINCT cred) AS creds
WITH seeds, seed_ids, recycled, excluded, creds, [c IN creds | c.id] AS cred_ids
// their calls in the window
UNWIND (CASE WHEN size(cred_ids) = 0 THEN [null] ELSE cred_ids END) AS actor
OPTIONAL MATCH (g:Call {actor: actor})
WHERE ($since IS NULL OR g.last_us >= $since) AND ($until IS NULL OR g.first_us <= $until)
WITH seeds, seed_ids, recycled, excluded, creds, cred_ids, collect(g) AS groups
// each group (eventIDs and times as lists) unwound into single calls
WITH seeds, seed_ids, recycled, excluded, creds, cred_ids,
     reduce(acc = [], grp IN groups |
            acc + [i IN range(0, size(grp.event_ids) - 1)
                   WHERE ($since IS NULL OR grp.times_us[i] >= $since)
                     AND ($until IS NULL OR grp.times_us[i] <= $until) |
                   {time_us: grp.times_us[i], event_id: grp.event_ids[i],
                    occurrence: coalesce(grp.occurrences[i], 1), actor: grp.actor,
                    event_name: grp.event_name, recipient_account_id: grp.recipient_account_id,
                    account_id: grp.account_id, region: grp.region, source_ip: grp.source_ip,
                    access_key_id: grp.access_key_id, error_code: grp.error_code,
                    resource: grp.resource}]) AS calls
WITH seeds, seed_ids, recycled, excluded, creds, cred_ids, calls,
     [c IN calls | c.actor] AS active, [c IN calls | c.event_id] AS call_event_ids
// sessions that acted or were issued in the window
WITH seeds, seed_ids, recycled, excluded, creds, cred_ids, calls, call_event_ids,
     [s IN creds WHERE s:Session
        AND (($since IS NULL AND $until IS NULL) OR s.id IN active
             OR (s.issued_us IS NOT NULL AND ($since IS NULL OR s.issued_us >= $since)
                 AND ($until IS NULL OR s.issued_us <= $until)))] AS sessions
// the call that opened each seed credential: its STS call, sign-in, or CreateAccessKey
WITH seeds, seed_ids, recycled, excluded, creds, cred_ids, calls, call_event_ids, sessions,
     [s IN seeds WHERE s:Session AND size(coalesce(s.issue_event_ids, [])) > 0
        AND (s.issued_us IS NULL OR (($since IS NULL OR s.issued_us >= $since)
                                     AND ($until IS NULL OR s.issued_us <= $until))) |
        {credential: s.id, via: s.via, issuer: s.issuer, time_us: s.issued_us,
         event_ids: s.issue_event_ids}]
     + reduce(acc = [], k IN [x IN seeds WHERE NOT x:Session] |
        acc + [(src)-[r:CREATED]->(k)
               WHERE r.first_seen_us IS NULL OR (($since IS NULL OR r.first_seen_us >= $since)
                                                 AND ($until IS NULL OR r.first_seen_us <= $until)) |
               {credential: k.id, via: coalesce(head(r.event_names), 'CreateAccessKey'),
                issuer: src.id, time_us: r.first_seen_us, event_ids: coalesce(r.event_ids, [])}]) AS issued_by
WITH seed_ids, recycled, excluded, creds, cred_ids, calls, call_event_ids, sessions, issued_by,
     call_event_ids
     + reduce(acc = [], s IN [x IN sessions WHERE NOT x.id IN seed_ids] |
              acc + coalesce(s.issue_event_ids, []))
     + reduce(acc = [], i IN issued_by | acc + i.event_ids) AS all_event_ids,
     // who opened the lineage's sessions from outside it: their calls are preferred evidence
     reduce(acc = [], s IN [x IN creds WHERE x:Session AND size(coalesce(x.issue_event_ids, [])) > 0] |
            acc + [s.issuer]
                + CASE WHEN s.issuer_account IS NOT NULL AND s.account IS NOT NULL
                            AND s.issuer_account <> s.account
                       THEN ['account:' + s.issuer_account] ELSE [] END) AS openers
// the rows of eventIDs no call of the lineage holds
WITH seed_ids, recycled, excluded, creds, cred_ids, calls, sessions, issued_by, all_event_ids, openers,
     [e IN all_event_ids WHERE NOT e IN call_event_ids] AS missing,
     ['AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'GetSessionToken',
      'GetFederationToken', 'AssumeRoot', 'ConsoleLogin', 'GetRoleCredentials', 'Federate',
      'UserAuthentication', 'Authenticate', 'CreateAccessKey'] AS opening_names
// the groups that may hold them, read once (by the actor and event name indexes), not per eventID
OPTIONAL MATCH (g:Call)
WHERE size(missing) > 0
  AND ((g.actor IN openers AND NOT g.actor IN cred_ids) OR g.event_name IN opening_names)
WITH seed_ids, recycled, excluded, creds, cred_ids, calls, sessions, issued_by, all_event_ids, openers,
     missing, opening_names, collect(g) AS candidates
UNWIND (CASE WHEN size(missing) = 0 THEN [null] ELSE missing END) AS m
WITH seed_ids, recycled, excluded, creds, cred_ids, calls, sessions, issued_by, all_event_ids, openers,
     opening_names, m, [c IN candidates WHERE m IN c.event_ids] AS holding
UNWIND (CASE WHEN size(holding) = 0 THEN [null] ELSE holding END) AS g
WITH seed_ids, recycled, excluded, creds, calls, sessions, issued_by, all_event_ids, openers, m,
     CASE WHEN g IS NULL THEN [] ELSE
       [i IN range(0, size(g.event_ids) - 1)
        WHERE g.event_ids[i] = m
          AND ((g.actor IN openers AND NOT g.actor IN cred_ids
                AND ($since IS NULL OR g.times_us[i] >= $since)
                AND ($until IS NULL OR g.times_us[i] <= $until))
               OR g.event_name IN opening_names) |
        {time_us: g.times_us[i], event_id: g.event_ids[i], occurrence: coalesce(g.occurrences[i], 1),
         actor: g.actor, event_name: g.event_name, recipient_account_id: g.recipient_account_id,
         account_id: g.account_id, region: g.region, source_ip: g.source_ip,
         access_key_id: g.access_key_id, error_code: g.error_code, resource: g.resource}] END AS found
UNWIND (CASE WHEN size(found) = 0 THEN [null] ELSE found END) AS x
WITH seed_ids, recycled, excluded, creds, calls, sessions, issued_by, all_event_ids, m, x
ORDER BY x.time_us,
         CASE WHEN x.actor IN openers AND ($since IS NULL OR x.time_us >= $since)
                   AND ($until IS NULL OR x.time_us <= $until) THEN 0 ELSE 1 END,
         coalesce(x.occurrence, 1)
WITH seed_ids, recycled, excluded, creds, calls, sessions, issued_by, all_event_ids, m,
     head(collect(x)) AS opening
WITH seed_ids, recycled, excluded, creds, calls, sessions, issued_by, all_event_ids,
     [o IN collect(opening) WHERE o IS NOT NULL] AS openings
RETURN
  seed_ids, recycled, excluded,
  [c IN creds | c.id] AS credentials,
  [s IN sessions | s.id] AS sessions,
  all_event_ids AS event_ids,
  reduce(acc = [], c IN creds |
         acc + CASE WHEN c:AccessKey THEN [substring(c.id, 4)]
                    WHEN c:Session AND size(coalesce(c.access_key_ids, [])) > 0 THEN c.access_key_ids
                    WHEN c:Session AND c.access_key_id IS NOT NULL THEN [c.access_key_id]
                    ELSE [] END) AS access_keys,
  [s IN sessions WHERE s.principal IS NOT NULL AND s.principal_kind = 'Role' | s.principal] AS roles,
  [s IN sessions WHERE s.principal IS NOT NULL AND coalesce(s.principal_kind, '') <> 'Role' | s.principal]
    + [c IN creds WHERE c.id STARTS WITH 'arn:' | c.id]
    + reduce(acc = [], c IN creds | acc + [(p)-[:HAS_KEY]->(c) | p.id]) AS principals,
  reduce(acc = [], c IN creds |
         acc + [(c)-[r:ATTEMPTED]->(role:Role)
                WHERE ($until IS NULL OR r.first_seen_us IS NULL OR r.first_seen_us <= $until)
                  AND ($since IS NULL OR r.last_seen_us IS NULL OR r.last_seen_us >= $since) |
                role.id]) AS attempted_roles,
  [s IN sessions WHERE s.account IS NOT NULL | s.account]
    + [c IN calls WHERE c.recipient_account_id IS NOT NULL | c.recipient_account_id]
    + [c IN calls WHERE c.account_id IS NOT NULL | c.account_id] AS accounts,
  [c IN calls WHERE c.source_ip IS NOT NULL
                AND 'ip:' + c.source_ip IN reduce(acc = [], k IN creds |
                                                 acc + [(k)-[:FROM_IP]->(ip) | ip.id]) |
   c.source_ip] AS ips,
  [c IN calls WHERE c.error_code IS NULL AND c.resource IS NOT NULL | c.resource] AS resources,
  reduce(lo = null, c IN calls | CASE WHEN lo IS NULL OR c.time_us < lo THEN c.time_us ELSE lo END) AS first_us,
  reduce(hi = null, c IN calls | CASE WHEN hi IS NULL OR c.time_us > hi THEN c.time_us ELSE hi END) AS last_us,
  size(calls) AS calls,
  size([c IN calls WHERE c.error_code IS NOT NULL]) AS failed_calls,
  issued_by,
  [c IN calls + openings |
   {time_us: c.time_us, event_name: c.event_name,
    account: coalesce(c.recipient_account_id, c.account_id), region: c.region,
    source_ip: c.source_ip, credential: c.actor, access_key_id: c.access_key_id,
    error_code: c.error_code, event_id: c.event_id, occurrence: coalesce(c.occurrence, 1)}] AS events,
  [s IN sessions WHERE s.console |
   {session: s.id, principal: s.principal, session_name: s.session_name,
    created_us: s.issued_us, mfa: s.mfa, opened_by: coalesce(s.issue_event_ids, []),
    access_key_ids: coalesce(s.access_key_ids, []), replayed: coalesce(s.replayed, false),
    sides: s.sides}] AS console_sessions
