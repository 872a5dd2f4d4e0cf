-- 0002_vectors: embedding spaces and their vectors (index/store_vec.c). SQLite is the system
-- of record; FAISS indexes (index/space.c) are derived from these rows and can be rebuilt.
-- A vector row goes with its lesion (ON DELETE CASCADE) in the same transaction.

CREATE TABLE spaces (
  name        TEXT PRIMARY KEY,           -- [A-Za-z0-9_.-]{1,63}
  dim         INTEGER NOT NULL CHECK (dim BETWEEN 1 AND 65536),
  metric      TEXT NOT NULL CHECK (metric IN ('l2', 'ip')),
  index_type  TEXT NOT NULL,              -- FAISS factory string, e.g. Flat, HNSW32, IVF256,Flat
  provenance  TEXT NOT NULL DEFAULT '',   -- model name/version that produced the vectors
  created_at  INTEGER NOT NULL            -- unix seconds
);

CREATE TABLE vectors (
  space     TEXT NOT NULL REFERENCES spaces(name) ON DELETE CASCADE,
  lesion_id INTEGER NOT NULL REFERENCES lesions(id) ON DELETE CASCADE,
  vec       BLOB NOT NULL,                -- dim little-endian float32
  PRIMARY KEY (space, lesion_id)
);  -- a rowid table: 1 KB blobs do not belong in a WITHOUT ROWID b-tree

CREATE INDEX vectors_lesion ON vectors(lesion_id);
