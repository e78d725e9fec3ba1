//! docs/api-support.md must list exactly what the registration table advertises and serves.

use myelin_server::apis::APIS;

/// (name, key, advertised range, served range)
type Row = (String, i16, (i16, i16), (i16, i16));

#[test]
fn api_support_doc_matches_the_registration_table() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/api-support.md"
    ))
    .expect("docs/api-support.md exists");
    let range = |s: &str| -> (i16, i16) {
        let (a, b) = s.trim().split_once('-').expect("a range like 0-4");
        (a.parse().unwrap(), b.parse().unwrap())
    };
    let mut rows: Vec<Row> = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | name | key | advertised | served |
        if cells.len() == 6 && cells[2].parse::<i16>().is_ok() {
            rows.push((
                cells[1].to_string(),
                cells[2].parse::<i16>().unwrap(),
                range(cells[3]),
                range(cells[4]),
            ));
        }
    }
    let mut table: Vec<Row> = APIS
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.key as i16,
                (e.advertised_min_version, e.max_version),
                (e.min_version, e.max_version),
            )
        })
        .collect();
    table.sort_by_key(|r| r.1);
    rows.sort_by_key(|r| r.1);
    assert_eq!(
        rows, table,
        "docs/api-support.md disagrees with crates/server/src/apis.rs"
    );
}
