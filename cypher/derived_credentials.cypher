// id: derived_credentials
// The steps of a blast radius, written once at push (`graphtrail neo4j push` runs this file after
// the graph; blast_radius and timeline read what it writes): one (:Graphtrail)-[:DERIVES {via, time_us}]->(:Graphtrail) per step of a blast-radius walk:
// a session issued (ISSUED), a key created (CREATED), the keys of a user created
// (CREATED_USER_KEY), and the sessions of a user opened at or after its creation, or after a
// login profile was created or reset for it (CONSOLE_AFTER_CHANGE; time_us is the session's
// issue time). A blast radius is then every credential reachable over DERIVES relationships
// whose time_us is at most $until. Statements are separated by `;` (Neo4j Browser runs
// them in turn); the first removes the relationships of the previous push.
// No parameters.
// :params {}
MATCH (:Graphtrail)-[d:DERIVES]->(:Graphtrail)
DELETE d;
MATCH (a:Graphtrail)-[r:ISSUED]->(b:Graphtrail)
MERGE (a)-[d:DERIVES {via: 'ISSUED'}]->(b)
SET d.time_us = r.first_seen_us;
MATCH (a:Graphtrail)-[r:CREATED]->(b:AccessKey)
MERGE (a)-[d:DERIVES {via: 'CREATED'}]->(b)
SET d.time_us = r.first_seen_us;
MATCH (a:Graphtrail)-[r:CREATED]->(:User)-[:HAS_KEY]->(b:Graphtrail)
MERGE (a)-[d:DERIVES {via: 'CREATED_USER_KEY'}]->(b)
SET d.time_us = r.first_seen_us;
MATCH (a:Graphtrail)-[r:CREATED]->(:User)<-[:OF_PRINCIPAL]-(b:Session)
WHERE b.issued_us IS NOT NULL AND b.issued_us <> 0
  AND (r.first_seen_us IS NULL OR b.issued_us >= r.first_seen_us)
MERGE (a)-[d:DERIVES {via: 'CONSOLE_AFTER_CHANGE'}]->(b)
SET d.time_us = b.issued_us;
MATCH (a:Graphtrail)-[r:CREATED]->(:LoginProfile)-[:OF_PRINCIPAL]->(:Graphtrail)<-[:OF_PRINCIPAL]-(b:Session)
WHERE b.issued_us IS NOT NULL AND b.issued_us <> 0
  AND (r.first_seen_us IS NULL OR b.issued_us >= r.first_seen_us)
MERGE (a)-[d:DERIVES {via: 'CONSOLE_AFTER_CHANGE'}]->(b)
SET d.time_us = b.issued_us;
MATCH (a:Graphtrail)-[r:CHANGED]->(:Graphtrail)-[:OF_PRINCIPAL]->(:Graphtrail)<-[:OF_PRINCIPAL]-(b:Session)
WHERE r.change = 'UpdateLoginProfile' AND b.issued_us IS NOT NULL AND b.issued_us <> 0
  AND (r.first_seen_us IS NULL OR b.issued_us >= r.first_seen_us)
MERGE (a)-[d:DERIVES {via: 'CONSOLE_AFTER_CHANGE'}]->(b)
SET d.time_us = b.issued_us
