// id: graph
// The whole identity graph for the views: every relationship between graphtrail's nodes but
// the calls (MADE) and the blast-radius steps (DERIVES), with its evidence.
// No parameters.
// :params {}
MATCH (a:Graphtrail)-[r]->(b:Graphtrail)
WHERE NOT type(r) IN ['MADE', 'DERIVES']
RETURN a.id AS src, b.id AS dst, type(r) AS kind, properties(r) AS props
