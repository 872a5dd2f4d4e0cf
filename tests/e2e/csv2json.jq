# csv2json.jq - DL_info.csv rows -> the JSON fields lesiond must return, computed here
# independently of lesiond's own parser (jq -R -s). Row i (1-based) is lesion id i.
def nums: split(",") | map(ltrimstr(" ") | tonumber);
split("\n") | .[1:] | map(select(length > 0)) | to_entries | map(
  .key as $i | .value | [scan("(\"[^\"]*\"|[^,\"]*)(,|$)") | .[0]] | .[0:18] | map(gsub("\"";"")) |
  {
    id: ($i + 1), file_name: .[0], patient: (.[1]|tonumber), study: (.[2]|tonumber),
    series: (.[3]|tonumber), key_slice: (.[4]|tonumber),
    measurement_coordinates: (.[5]|nums), bounding_box: (.[6]|nums),
    diameters_px: (.[7]|nums), normalized_location: (.[8]|nums),
    type: (.[9]|tonumber|if . == -1 then null else . end),
    possibly_noisy: (.[10] == "1"), slice_range: (.[11]|nums),
    spacing_mm_px: (.[12]|nums), image_size: (.[13]|nums), dicom_window: (.[14]|nums),
    gender: .[15], age: (if .[16] == "NaN" then null else (.[16]|tonumber) end),
    split: (.[17]|tonumber)
  })
