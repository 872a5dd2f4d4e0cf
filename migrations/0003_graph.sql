-- 0003_graph: the intra-patient lesion graph (index/graph.c computes, index/store_graph.c
-- stores). One row per kept edge; an edge joins two lesions of one patient in different
-- studies, from_id in the earlier study. Deleting a lesion deletes its edges (cascade);
-- the patient's graph is then rebuilt by store_graph_rebuild. Never edit once released.

CREATE TABLE graph_edges (
  from_id    INTEGER NOT NULL REFERENCES lesions(id) ON DELETE CASCADE,
  to_id      INTEGER NOT NULL REFERENCES lesions(id) ON DELETE CASCADE,
  patient    INTEGER NOT NULL,
  score      REAL NOT NULL CHECK (score > 0 AND score <= 1),  -- 1 - cost / threshold
  cost       REAL NOT NULL,
  d_embed    REAL,                      -- NULL: no embedding evidence
  d_loc      REAL NOT NULL,             -- normalised-location displacement
  size_ratio REAL,                      -- long diameter to / from; NULL if unmeasured
  PRIMARY KEY (from_id, to_id),
  CHECK (from_id <> to_id)
) WITHOUT ROWID;

CREATE INDEX graph_edges_to ON graph_edges(to_id);
CREATE INDEX graph_edges_patient ON graph_edges(patient);
