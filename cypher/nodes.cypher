// Every node of the identity graph but calls: its kind (label), label, account and properties.
// No parameters.
// :params {}
MATCH (n)
WHERE NOT n:Call
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props
