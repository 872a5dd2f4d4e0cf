-- 0001_init: patients, studies, series and lesions with every DL_info.csv field.
-- Applied once, in one transaction, by the store (index/store.c). Never edit once released.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE patients (
  id      INTEGER PRIMARY KEY,          -- DeepLesion Patient_index
  gender  TEXT NOT NULL CHECK (gender IN ('M', 'F', 'U'))
);

CREATE TABLE studies (
  patient INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  study   INTEGER NOT NULL,             -- Study_index, 1-based, in time order
  age     REAL,                          -- Patient_age at this study; NULL when NaN
  PRIMARY KEY (patient, study)
);

CREATE TABLE series (
  patient INTEGER NOT NULL,
  study   INTEGER NOT NULL,
  series  INTEGER NOT NULL,             -- Series_ID
  dir     TEXT NOT NULL,                -- "<patient:06d>_<study:02d>_<series:02d>"
  PRIMARY KEY (patient, study, series),
  FOREIGN KEY (patient, study) REFERENCES studies(patient, study) ON DELETE CASCADE
);

CREATE TABLE lesions (
  id            INTEGER PRIMARY KEY,    -- 1-based DL_info.csv row number for imports
  file_name     TEXT NOT NULL,          -- File_name as in the CSV
  patient       INTEGER NOT NULL REFERENCES patients(id),
  study         INTEGER NOT NULL,
  series        INTEGER NOT NULL,
  key_slice     INTEGER NOT NULL,
  -- Measurement_coordinates: RECIST long axis (x11,y11,x12,y12), short axis (x21..y22); px, 1-based
  m_x11 REAL NOT NULL, m_y11 REAL NOT NULL, m_x12 REAL NOT NULL, m_y12 REAL NOT NULL,
  m_x21 REAL NOT NULL, m_y21 REAL NOT NULL, m_x22 REAL NOT NULL, m_y22 REAL NOT NULL,
  -- Bounding_boxes: x1,y1,x2,y2 px
  box_x1 REAL NOT NULL, box_y1 REAL NOT NULL, box_x2 REAL NOT NULL, box_y2 REAL NOT NULL,
  diam_long_px  REAL NOT NULL,          -- Lesion_diameters_Pixel_
  diam_short_px REAL NOT NULL,
  loc_x REAL NOT NULL, loc_y REAL NOT NULL, loc_z REAL NOT NULL,  -- Normalized_lesion_location
  type          INTEGER NOT NULL CHECK (type = -1 OR type BETWEEN 1 AND 8),
  noisy         INTEGER NOT NULL CHECK (noisy IN (0, 1)),
  slice_first   INTEGER NOT NULL,       -- Slice_range
  slice_last    INTEGER NOT NULL,
  spacing_x REAL NOT NULL, spacing_y REAL NOT NULL, spacing_z REAL NOT NULL,  -- Spacing_mm_px_
  image_w       INTEGER NOT NULL,       -- Image_size
  image_h       INTEGER NOT NULL,
  window_lo     REAL NOT NULL,          -- DICOM_windows (min, max HU)
  window_hi     REAL NOT NULL,
  gender        TEXT NOT NULL CHECK (gender IN ('M', 'F', 'U')),
  age           REAL,                   -- NULL when the CSV says NaN
  split         INTEGER NOT NULL CHECK (split BETWEEN 1 AND 3),  -- Train_Val_Test
  -- derived
  diam_long_mm  REAL NOT NULL,
  diam_short_mm REAL NOT NULL,
  image_path    TEXT NOT NULL,          -- "<series dir>/<slice:03d>.png" under the image root
  FOREIGN KEY (patient, study, series) REFERENCES series(patient, study, series)
);

CREATE INDEX lesions_patient ON lesions(patient, study);
CREATE INDEX lesions_split ON lesions(split);
