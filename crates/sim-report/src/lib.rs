//! Run outputs: summary.json, timeline.csv, requests.csv.
