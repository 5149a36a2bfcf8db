// The lineage graph: every edge that carries one credential to another or to what it acts as.
// (ISSUED, OF_ROLE, OF_PRINCIPAL, HAS_KEY, CREATED, CHANGED, ATTEMPTED), with its evidence.
// No parameters.
// :params {}
MATCH (a)-[r]->(b)
WHERE type(r) IN ['ISSUED', 'OF_ROLE', 'OF_PRINCIPAL', 'HAS_KEY', 'CREATED', 'CHANGED', 'ATTEMPTED']
RETURN a.id AS src, b.id AS dst, type(r) AS kind, properties(r) AS props
