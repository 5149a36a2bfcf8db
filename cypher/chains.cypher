// id: chains
// Role chains walked by real sessions: each hop is an STS call made with the previous
// session's own credential (an ISSUED relationship from session to session), never two roles
// that merely connect. One chain per root-to-leaf lineage of sessions; a hop is a session of a
// role. The origin is who is behind the root session: the federated or workload identity named
// in the session (Identity Center user, SAML or web-identity provider and subject), else the
// issuer: a key's user (or the key), an account, a service, a provider, a principal ARN; with no
// issuer in the logs the chain starts at the root session's principal. Filters: $to cuts each
// chain at the first hop reaching that role, then chains are kept that have at least $min_hops
// hops, cross accounts when $cross_account, start at $from_key (the root's key or the first
// hop's) or $from_principal / $from_text (the origin or a name in it), have a hop at or after
// $since and a first hop at or before $until. Longest first, then by first hop time.
// $cross_account  true: only chains with a hop between two accounts
// $from_key       an access key id, or null
// $from_principal the origin principal (a normalized ARN), or null
// $from_text      the origin as typed (a subject, user name, repository...), or null
// $to             a role ARN (without path), or null
// $min_hops       at least this many hops (1 or more)
// $since          epoch microseconds (UTC), or null
// $until          epoch microseconds (UTC), or null
// :params {cross_account: false, from_key: null, from_principal: null, from_text: null, to: null, min_hops: 1, since: null, until: null}
MATCH (root:Session)
WHERE root.issuer IS NULL OR NOT EXISTS { MATCH (:Session {id: root.issuer}) }
MATCH p = (root)-[:ISSUED*0..16]->(leaf:Session)
WHERE all(n IN nodes(p) WHERE n:Session)
  AND NOT EXISTS { MATCH (leaf)-[:ISSUED]->(kid:Session) WHERE NOT kid IN nodes(p) }
OPTIONAL MATCH (issuer:Graphtrail {id: root.issuer})
OPTIONAL MATCH (owner:Graphtrail)-[:HAS_KEY]->(issuer:AccessKey)
WITH root, nodes(p) AS ss, issuer, head(collect(owner.id)) AS owner
// who is behind the root session
WITH root, ss,
     CASE WHEN root.issuer STARTS WITH 'key:' THEN coalesce(issuer.user, owner, substring(root.issuer, 4))
          WHEN root.issuer STARTS WITH 'account:' THEN substring(root.issuer, 8)
          WHEN root.issuer STARTS WITH 'service:' OR root.issuer STARTS WITH 'idp:'
               OR root.issuer STARTS WITH 'idc-user:' THEN substring(root.issuer, size(split(root.issuer, ':')[0]) + 1)
          ELSE root.issuer END AS issuer_origin,
     CASE WHEN root.issuer STARTS WITH 'key:' THEN
               CASE WHEN coalesce(issuer.user, owner) IS NULL THEN issuer.account
                    ELSE split(coalesce(issuer.user, owner), ':')[4] END
          WHEN root.issuer STARTS WITH 'account:' THEN substring(root.issuer, 8)
          WHEN root.issuer STARTS WITH 'service:' OR root.issuer STARTS WITH 'idp:'
               OR root.issuer STARTS WITH 'idc-user:' THEN null
          WHEN root.issuer STARTS WITH 'arn:' THEN
               CASE WHEN split(root.issuer, ':')[4] = '' THEN null ELSE split(root.issuer, ':')[4] END
          ELSE issuer.account END AS issuer_account,
     CASE WHEN root.issuer STARTS WITH 'key:' THEN substring(root.issuer, 4)
          ELSE null END AS issuer_key,
     CASE WHEN root.origin_kind = 'identity_center'
               AND coalesce(root.origin_user_id, root.origin_user_name, root.origin_subject) IS NOT NULL
               THEN 'idc-user:' + coalesce(root.origin_user_id, root.origin_user_name, root.origin_subject)
          WHEN root.origin_kind = 'identity_center' THEN null
          WHEN root.origin_provider IS NOT NULL AND root.origin_subject IS NOT NULL
               THEN root.origin_provider + '/' + root.origin_subject
          ELSE root.origin_provider END AS named
WITH root, ss, named, issuer_key,
     CASE WHEN named IS NOT NULL THEN named ELSE issuer_origin END AS origin,
     CASE WHEN named IS NOT NULL THEN null ELSE issuer_account END AS origin_account
// the hops: each session of a role, from the principal before it, with the previous key
WITH root, named, issuer_key, origin,
     CASE WHEN origin IS NULL
          THEN {prin: head(ss).principal, acct: head(ss).account, key: head(ss).access_key_id,
                start: head(ss).principal, rest: tail(ss)}
          ELSE {prin: origin, acct: origin_account,
                key: CASE WHEN root.issuer STARTS WITH 'key:' THEN substring(root.issuer, 4)
                          ELSE null END,
                start: origin, rest: ss} END AS init,
     reduce(k = '', s IN ss | k + right('00000000000000000000' + toString(coalesce(s.issued_us, 0)), 20)
                               + s.id + '|') AS walk_order
WITH root, named, issuer_key, origin, init, walk_order,
     reduce(acc = {prin: init.prin, acct: init.acct, key: init.key, hops: []}, s IN init.rest |
       CASE WHEN s.principal_kind = 'Role' AND s.principal IS NOT NULL
            THEN {prin: s.principal, acct: s.account, key: s.access_key_id,
                  hops: acc.hops + [{from: acc.prin, to: s.principal, time_us: coalesce(s.issued_us, 0),
                                     event_ids: coalesce(s.issue_event_ids, []), access_key_id: acc.key,
                                     from_account: acc.acct, to_account: s.account, session: s.id,
                                     via: s.via, session_name: s.session_name,
                                     source_identity: s.source_identity,
                                     inferred: coalesce(s.issuer_inferred, false)}]}
            ELSE {prin: acc.prin, acct: acc.acct, key: s.access_key_id, hops: acc.hops} END).hops AS hops
WHERE size(hops) > 0
// --to: cut at the first hop reaching the role
WITH root, named, issuer_key, init, walk_order, hops,
     CASE WHEN $to IS NULL THEN size(hops)
          ELSE head([i IN range(0, size(hops) - 1) WHERE hops[i].to = $to]) + 1 END AS cut
WHERE cut IS NOT NULL
WITH root, named, issuer_key, init, walk_order, hops[0..cut] AS hops
WHERE size(hops) >= CASE WHEN $min_hops > 1 THEN $min_hops ELSE 1 END
  AND (NOT $cross_account OR any(h IN hops WHERE h.from_account IS NOT NULL AND h.to_account IS NOT NULL
                                                AND h.from_account <> h.to_account))
  AND ($from_key IS NULL OR issuer_key = $from_key OR hops[0].access_key_id = $from_key)
  AND ($from_principal IS NULL OR init.start IN [$from_principal, $from_text]
       OR (named IS NOT NULL AND $from_text IN [root.origin_subject, root.origin_user_name, root.origin_user_id,
                                                root.origin_repository, root.origin_provider,
                                                root.origin_source_identity]))
  AND ($since IS NULL OR any(h IN hops WHERE h.time_us >= $since))
  AND ($until IS NULL OR hops[0].time_us <= $until)
// one chain per lineage of sessions (two lineages cut at the same role are one chain)
WITH root, named, init, [h IN hops | h.session] AS sessions, collect(hops)[0] AS hops,
     min(walk_order) AS walk_order
RETURN [init.start] + [h IN hops | h.to] AS path, hops, sessions,
       root.issuer AS origin_credential, CASE WHEN named IS NULL THEN null ELSE root.origin END AS origin
ORDER BY size(hops) DESC, hops[0].time_us, coalesce(root.issued_us, 0), root.id, walk_order
