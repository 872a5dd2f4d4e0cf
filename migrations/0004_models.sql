-- 0004_models: learned projections (index/learn.c trains, index/store_model.c stores).
-- One row per trained space: the space it was trained from, the training parameters
-- (JSON), the per-epoch loss (JSON array), the weights (train_model_serialize's blob) and
-- the wall time. Dropping the target space drops its model. Never edit once released.

CREATE TABLE models (
  name          TEXT PRIMARY KEY REFERENCES spaces(name) ON DELETE CASCADE,
  from_space    TEXT NOT NULL,
  params        TEXT NOT NULL,            -- JSON object of the training parameters
  loss_curve    TEXT NOT NULL,            -- JSON array, one mean loss per epoch
  weights       BLOB NOT NULL,            -- "LSDTRAIN" blob (include/train.h)
  created_at    INTEGER NOT NULL,         -- unix seconds
  train_seconds REAL NOT NULL,
  CHECK (name <> from_space)
);

CREATE INDEX models_from ON models(from_space);
