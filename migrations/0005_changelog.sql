-- 0005_changelog: the replication change log (index/store_repl.c). Every committed change
-- to a replicated table appends the changed row's primary key to `changelog`, from a
-- trigger, in the same transaction as the change itself (cascaded deletes included).
-- The sequence number orders changes in commit order (writers are serialised). A
-- replica reads the log through GET /v1/replication/changes and gets, for every key
-- changed since its position, the row as it is now (or its absence): a consistent diff
-- from one committed state of the primary to a later one. `repl_log` names this log (a
-- restore gives the database a new name, so replicas of the old history re-snapshot).
-- `repl_follow` has one row on a replica (the primary's log, the position applied) and
-- none on a primary: the triggers log nothing on a replica. Never edit once released.

CREATE TABLE repl_log (
  id TEXT NOT NULL                      -- 32 hex digits, random
);
INSERT INTO repl_log (id) VALUES (lower(hex(randomblob(16))));

CREATE TABLE repl_follow (
  log_id   TEXT NOT NULL,               -- the primary's repl_log.id
  position INTEGER NOT NULL,            -- last primary changelog seq applied here
  primary_url TEXT NOT NULL
);

CREATE TABLE changelog (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order; never reused (sqlite_sequence)
  tbl INTEGER NOT NULL,                 -- 1 patients .. 9 meta (index/store_repl.c)
  k1, k2, k3                            -- the row's primary key
);

CREATE TRIGGER repl_patients_i AFTER INSERT ON patients WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (1, NEW.id); END;
CREATE TRIGGER repl_patients_u AFTER UPDATE ON patients WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (1, OLD.id);
      INSERT INTO changelog (tbl, k1) VALUES (1, NEW.id); END;
CREATE TRIGGER repl_patients_d AFTER DELETE ON patients WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (1, OLD.id); END;

CREATE TRIGGER repl_studies_i AFTER INSERT ON studies WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (2, NEW.patient, NEW.study); END;
CREATE TRIGGER repl_studies_u AFTER UPDATE ON studies WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (2, OLD.patient, OLD.study);
      INSERT INTO changelog (tbl, k1, k2) VALUES (2, NEW.patient, NEW.study); END;
CREATE TRIGGER repl_studies_d AFTER DELETE ON studies WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (2, OLD.patient, OLD.study); END;

CREATE TRIGGER repl_series_i AFTER INSERT ON series WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2, k3) VALUES (3, NEW.patient, NEW.study, NEW.series); END;
CREATE TRIGGER repl_series_u AFTER UPDATE ON series WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2, k3) VALUES (3, OLD.patient, OLD.study, OLD.series);
      INSERT INTO changelog (tbl, k1, k2, k3) VALUES (3, NEW.patient, NEW.study, NEW.series); END;
CREATE TRIGGER repl_series_d AFTER DELETE ON series WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2, k3) VALUES (3, OLD.patient, OLD.study, OLD.series); END;

CREATE TRIGGER repl_lesions_i AFTER INSERT ON lesions WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (4, NEW.id); END;
CREATE TRIGGER repl_lesions_u AFTER UPDATE ON lesions WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (4, OLD.id);
      INSERT INTO changelog (tbl, k1) VALUES (4, NEW.id); END;
CREATE TRIGGER repl_lesions_d AFTER DELETE ON lesions WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (4, OLD.id); END;

CREATE TRIGGER repl_spaces_i AFTER INSERT ON spaces WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (5, NEW.name); END;
CREATE TRIGGER repl_spaces_u AFTER UPDATE ON spaces WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (5, OLD.name);
      INSERT INTO changelog (tbl, k1) VALUES (5, NEW.name); END;
CREATE TRIGGER repl_spaces_d AFTER DELETE ON spaces WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (5, OLD.name); END;

CREATE TRIGGER repl_vectors_i AFTER INSERT ON vectors WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (6, NEW.space, NEW.lesion_id); END;
CREATE TRIGGER repl_vectors_u AFTER UPDATE ON vectors WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (6, OLD.space, OLD.lesion_id);
      INSERT INTO changelog (tbl, k1, k2) VALUES (6, NEW.space, NEW.lesion_id); END;
CREATE TRIGGER repl_vectors_d AFTER DELETE ON vectors WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (6, OLD.space, OLD.lesion_id); END;

CREATE TRIGGER repl_graph_edges_i AFTER INSERT ON graph_edges WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (7, NEW.from_id, NEW.to_id); END;
CREATE TRIGGER repl_graph_edges_u AFTER UPDATE ON graph_edges WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (7, OLD.from_id, OLD.to_id);
      INSERT INTO changelog (tbl, k1, k2) VALUES (7, NEW.from_id, NEW.to_id); END;
CREATE TRIGGER repl_graph_edges_d AFTER DELETE ON graph_edges WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1, k2) VALUES (7, OLD.from_id, OLD.to_id); END;

CREATE TRIGGER repl_models_i AFTER INSERT ON models WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (8, NEW.name); END;
CREATE TRIGGER repl_models_u AFTER UPDATE ON models WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (8, OLD.name);
      INSERT INTO changelog (tbl, k1) VALUES (8, NEW.name); END;
CREATE TRIGGER repl_models_d AFTER DELETE ON models WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (8, OLD.name); END;

CREATE TRIGGER repl_meta_i AFTER INSERT ON meta WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (9, NEW.key); END;
CREATE TRIGGER repl_meta_u AFTER UPDATE ON meta WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (9, OLD.key);
      INSERT INTO changelog (tbl, k1) VALUES (9, NEW.key); END;
CREATE TRIGGER repl_meta_d AFTER DELETE ON meta WHEN NOT EXISTS (SELECT 1 FROM repl_follow)
BEGIN INSERT INTO changelog (tbl, k1) VALUES (9, OLD.key); END;
