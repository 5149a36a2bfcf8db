// id: lineage_path
// For each credential, the lineage that led to it: the origin principal first, then each
// credential down to it (each session's issuer, up to a credential that is not a session).
// The origin is the top session's principal when nothing in the logs issued it, else who is
// behind its issuer: a key's user (or the key), an account, a service, a provider, an ARN.
// $actors       credential ids (key:AKIA..., session:ASIA...@time, a principal ARN)
// :params {actors: ['key:AKIA52CAMQMUDNLGK7SQ']}
UNWIND $actors AS actor
OPTIONAL MATCH p = (top:Session)-[:ISSUED*0..16]->(s:Session {id: actor})
WHERE all(r IN relationships(p) WHERE endNode(r).issuer = startNode(r).id)
  AND (top.issuer IS NULL OR NOT EXISTS { MATCH (:Session {id: top.issuer}) })
WITH actor, head(collect(p)) AS p
WITH actor, CASE WHEN p IS NULL THEN [] ELSE reverse([n IN nodes(p) | n.id]) END AS sessions,
     CASE WHEN p IS NULL THEN null ELSE nodes(p)[0] END AS top
WITH actor, sessions, top,
     CASE WHEN top IS NULL THEN actor ELSE top.issuer END AS issuer
OPTIONAL MATCH (inode:Graphtrail {id: issuer})
OPTIONAL MATCH (owner:Graphtrail)-[:HAS_KEY]->(inode:AccessKey)
WITH actor, sessions, top, issuer, inode, head(collect(owner.id)) AS owner
WITH actor, CASE WHEN issuer IS NULL THEN sessions ELSE sessions + [issuer] END AS up,
     CASE WHEN top IS NOT NULL AND issuer IS NULL THEN top.principal
          WHEN issuer IS NULL THEN null
          WHEN issuer STARTS WITH 'key:' THEN coalesce(inode.user, owner, substring(issuer, 4))
          WHEN issuer STARTS WITH 'account:' THEN substring(issuer, 8)
          WHEN issuer STARTS WITH 'service:' OR issuer STARTS WITH 'idp:'
               OR issuer STARTS WITH 'idc-user:' THEN substring(issuer, size(split(issuer, ':')[0]) + 1)
          ELSE issuer END AS origin
RETURN actor,
       reverse(CASE WHEN size(up) = 0 THEN [actor] ELSE up END
               + CASE WHEN origin IS NOT NULL AND origin <> last(CASE WHEN size(up) = 0 THEN [actor] ELSE up END)
                      THEN [origin] ELSE [] END) AS path
