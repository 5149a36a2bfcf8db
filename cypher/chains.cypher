// Role chains walked by real sessions: each hop is an STS call made with the previous
// session's own credential (an ISSUED edge from session to session), never two roles that
// merely connect. Origin first (an access key, a principal, an external account, a service);
// a sign-in's first session names the human or workload behind it in origin_detail (JSON).
// $min_hops     at least this many sessions in the chain
// :params {min_hops: 2}
MATCH p = (origin)-[:ISSUED]->(first:Session)-[:ISSUED*0..10]->(last:Session)
WHERE NOT origin:Session AND NOT (last)-[:ISSUED]->(:Session)
WITH p, origin, first, [n IN nodes(p) WHERE n:Session] AS sessions
WHERE size(sessions) >= $min_hops
RETURN origin.id AS origin, first.origin AS origin_detail,
       [s IN sessions | s.principal] AS principals,
       [s IN sessions | s.id] AS sessions,
       [s IN sessions | s.account] AS accounts,
       [r IN relationships(p) | r.event_ids[0]] AS hop_event_ids
ORDER BY size(sessions) DESC, origin
