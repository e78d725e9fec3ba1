//! Compatibility of JSON schemas, decided conservatively: [`subsumes`] answers true only
//! when every document valid under one schema is provably valid under the other, from the
//! schemas' structure. Where it cannot tell (keywords whose meaning depends on others,
//! such as `patternProperties` or `unevaluatedProperties`), it requires the two to be
//! identical, so a change it cannot prove safe is reported incompatible, never the other
//! way round.
//!
//! The rules match Confluent's for the changes schemas usually see: with a closed content
//! model (`"additionalProperties": false`) a new optional property is backward compatible
//! and a new required one is not; with the default open model, adding a property is not
//! (data written before may hold that name with another type) and removing one is.

use serde_json::{Map, Value};

/// Keywords that only annotate: they never change which documents are valid.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords handled structurally below; every other keyword must be the same in both
/// schemas where the wider one has it.
const STRUCTURAL: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
];

/// Keywords whose meaning depends on the structural ones: when either schema has one, the
/// object is compared whole.
const ENTANGLED: &[&str] = &[
    "patternProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "prefixItems",
    "dependencies",
    "dependentSchemas",
    "dependentRequired",
    "propertyNames",
];

/// Nesting deeper than this is not compared (and reported incompatible).
const MAX_DEPTH: usize = 64;

/// Whether every document valid under `narrow` is valid under `wide`, as far as the
/// schemas' structure proves it.
pub fn subsumes(wide: &Value, narrow: &Value) -> bool {
    subsumes_at(wide, narrow, 0)
}

fn subsumes_at(wide: &Value, narrow: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    if wide == narrow {
        return true;
    }
    match (wide, narrow) {
        (Value::Bool(true), _) => true,
        (_, Value::Bool(false)) => true,
        (Value::Object(w), _) if is_empty_schema(w) => true,
        (Value::Object(_), Value::Bool(true)) => false,
        (Value::Object(w), Value::Object(n)) => objects(w, n, depth),
        _ => false,
    }
}

/// A schema with no constraint: only annotations.
fn is_empty_schema(o: &Map<String, Value>) -> bool {
    o.keys().all(|k| ANNOTATIONS.contains(&k.as_str()))
}

fn objects(w: &Map<String, Value>, n: &Map<String, Value>, depth: usize) -> bool {
    if ENTANGLED
        .iter()
        .any(|k| w.contains_key(*k) || n.contains_key(*k))
    {
        return strip(w) == strip(n);
    }
    // Every other constraint of the wider schema must already hold in the narrower one.
    let others_hold = w.iter().all(|(k, v)| {
        ANNOTATIONS.contains(&k.as_str()) || STRUCTURAL.contains(&k.as_str()) || n.get(k) == Some(v)
    });
    others_hold
        && types(w.get("type"), n.get("type"))
        && enums(w.get("enum"), n.get("enum"))
        && required(w.get("required"), n.get("required"))
        && items(w.get("items"), n.get("items"), depth)
        && properties(w, n, depth)
}

/// The schema without its annotations.
fn strip(o: &Map<String, Value>) -> Map<String, Value> {
    o.iter()
        .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The type names of `type` (a name or a list); None when absent or malformed.
fn type_names(t: &Value) -> Option<Vec<&str>> {
    match t {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn types(w: Option<&Value>, n: Option<&Value>) -> bool {
    let Some(w) = w else { return true };
    let Some(n) = n else { return false };
    match (type_names(w), type_names(n)) {
        (Some(w), Some(n)) => n
            .iter()
            .all(|t| w.contains(t) || (*t == "integer" && w.contains(&"number"))),
        _ => false,
    }
}

fn enums(w: Option<&Value>, n: Option<&Value>) -> bool {
    let Some(w) = w else { return true };
    match (w.as_array(), n.and_then(Value::as_array)) {
        (Some(w), Some(n)) => n.iter().all(|v| w.contains(v)),
        _ => false,
    }
}

fn required(w: Option<&Value>, n: Option<&Value>) -> bool {
    let Some(w) = w else { return true };
    let Some(w) = w.as_array() else { return false };
    let n = n.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    w.iter().all(|r| n.contains(r))
}

fn items(w: Option<&Value>, n: Option<&Value>, depth: usize) -> bool {
    match (w, n) {
        (None, _) => true,
        // A list of items (draft-07 tuples) is compared whole.
        (Some(Value::Array(_)), _) | (_, Some(Value::Array(_))) => w == n,
        (Some(w), Some(n)) => subsumes_at(w, n, depth + 1),
        (Some(w), None) => subsumes_at(w, &Value::Bool(true), depth + 1),
    }
}

/// What `additionalProperties` allows: absent or true is anything.
fn additional(o: &Map<String, Value>) -> &Value {
    static ANYTHING: Value = Value::Bool(true);
    o.get("additionalProperties").unwrap_or(&ANYTHING)
}

fn properties(w: &Map<String, Value>, n: &Map<String, Value>, depth: usize) -> bool {
    let empty = Map::new();
    let props = |o: &Map<String, Value>| -> Option<Map<String, Value>> {
        match o.get("properties") {
            None => Some(empty.clone()),
            Some(Value::Object(p)) => Some(p.clone()),
            Some(_) => None,
        }
    };
    let (Some(wp), Some(np)) = (props(w), props(n)) else {
        return false;
    };
    let (wa, na) = (additional(w), additional(n));
    // A name the narrower schema declares: the wider one must take its values, by its own
    // declaration or its additionalProperties.
    let declared = np.iter().all(|(name, ns)| {
        let ws = wp.get(name).unwrap_or(wa);
        subsumes_at(ws, ns, depth + 1)
    });
    // A name only the wider schema declares: the narrower one's additionalProperties
    // governs it there.
    let added = wp
        .iter()
        .filter(|(name, _)| !np.contains_key(*name))
        .all(|(_, ws)| subsumes_at(ws, na, depth + 1));
    // Names neither declares.
    declared && added && subsumes_at(wa, na, depth + 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn closed(props: Value, required: Value) -> Value {
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }

    #[test]
    fn closed_models_take_new_optional_properties() {
        let v1 = closed(json!({"id": {"type": "string"}}), json!(["id"]));
        let v2 = closed(
            json!({"id": {"type": "string"}, "ward": {"type": "string"}}),
            json!(["id"]),
        );
        let v2_required = closed(
            json!({"id": {"type": "string"}, "ward": {"type": "string"}}),
            json!(["id", "ward"]),
        );
        // Backward: the new schema accepts every old document.
        assert!(subsumes(&v2, &v1));
        assert!(!subsumes(&v2_required, &v1));
        // Forward: the old schema refuses a new document with ward.
        assert!(!subsumes(&v1, &v2));
        // Removing a property from a closed model: old documents with it are refused.
        assert!(!subsumes(&v1, &v2));
    }

    #[test]
    fn open_models_take_removals_not_additions() {
        let v1 = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        let v2 = json!({"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "integer"}}});
        // An old document may hold n as a string: not provably backward compatible.
        assert!(!subsumes(&v2, &v1));
        // Removing n: the open model takes it as an additional property.
        assert!(subsumes(&v1, &v2));
        // An added property the old model allowed as anything of its type.
        let typed_extra = json!({"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": {"type": "integer"}});
        assert!(subsumes(&v2, &typed_extra));
    }

    #[test]
    fn types_enums_and_annotations() {
        assert!(subsumes(
            &json!({"type": "number"}),
            &json!({"type": "integer"})
        ));
        assert!(!subsumes(
            &json!({"type": "integer"}),
            &json!({"type": "number"})
        ));
        assert!(subsumes(
            &json!({"type": ["string", "null"]}),
            &json!({"type": "string"})
        ));
        assert!(!subsumes(&json!({"type": "string"}), &json!({})));
        assert!(subsumes(
            &json!({"enum": ["a", "b"]}),
            &json!({"enum": ["a"]})
        ));
        assert!(!subsumes(
            &json!({"enum": ["a"]}),
            &json!({"enum": ["a", "b"]})
        ));
        assert!(subsumes(
            &json!({"type": "string", "description": "new words"}),
            &json!({"type": "string", "title": "T"})
        ));
        // A constraint the narrower schema lacks, or holds differently.
        assert!(!subsumes(
            &json!({"type": "string", "maxLength": 5}),
            &json!({"type": "string"})
        ));
        assert!(subsumes(
            &json!({"type": "string"}),
            &json!({"type": "string", "maxLength": 5})
        ));
        assert!(!subsumes(
            &json!({"type": "string", "maxLength": 5}),
            &json!({"type": "string", "maxLength": 9})
        ));
        assert!(subsumes(&json!(true), &json!({"type": "string"})));
        assert!(!subsumes(&json!(false), &json!({"type": "string"})));
        assert!(subsumes(&json!({"type": "string"}), &json!(false)));
    }

    #[test]
    fn nested_items_and_entangled_keywords() {
        let old =
            json!({"type": "array", "items": closed(json!({"a": {"type": "integer"}}), json!([]))});
        let new =
            json!({"type": "array", "items": closed(json!({"a": {"type": "number"}}), json!([]))});
        assert!(subsumes(&new, &old));
        assert!(!subsumes(&old, &new));
        let p1 = json!({"type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": false});
        let p2 = json!({"type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": false, "properties": {"y": {}}});
        // Whether y is new to old documents depends on the patterns: compared whole.
        assert!(!subsumes(&p2, &p1));
        assert!(subsumes(
            &p1,
            &json!({"title": "t", "type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": false})
        ));
        // Deep nesting is refused, not followed forever.
        let mut deep = json!({"type": "string"});
        for _ in 0..100 {
            deep = json!({"type": "array", "items": deep});
        }
        let mut deeper = json!({"type": ["string", "null"]});
        for _ in 0..100 {
            deeper = json!({"type": "array", "items": deeper});
        }
        assert!(!subsumes(&deeper, &deep));
    }
}

/// The checker held to a real validator (the `jsonschema` crate): whenever it says one
/// schema takes every document of another, no document valid under the narrower one is
/// refused by the wider one.
#[cfg(test)]
mod soundness {
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{json, Value};

    use super::subsumes;

    const NAMES: [&str; 3] = ["a", "b", "c"];

    /// A schema of the subset the checker reasons about, and some it does not.
    fn schema(depth: u32) -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(json!(true)),
            Just(json!({})),
            prop::sample::select(vec!["string", "integer", "number", "boolean", "null"])
                .prop_map(|t| json!({ "type": t })),
            Just(json!({"type": ["string", "null"]})),
            (1u64..4).prop_map(|n| json!({"type": "string", "maxLength": n})),
            Just(json!({"enum": [1, "x"]})),
            Just(json!({"enum": [1]})),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        let inner = schema(depth - 1);
        let additional = prop_oneof![
            Just(None),
            Just(Some(json!(false))),
            Just(Some(json!(true))),
            schema(0).prop_map(Some),
        ];
        let object = (
            prop::collection::btree_map(prop::sample::select(NAMES.to_vec()), inner.clone(), 0..3),
            prop::collection::btree_set(prop::sample::select(NAMES.to_vec()), 0..2),
            additional,
            any::<bool>(),
        )
            .prop_map(|(props, required, additional, patterns)| {
                let mut o = json!({"type": "object", "properties": props, "required": required});
                if let Some(a) = additional {
                    o["additionalProperties"] = a;
                }
                if patterns {
                    o["patternProperties"] = json!({"^c": {"type": "integer"}});
                }
                o
            });
        let array = inner.prop_map(|items| json!({"type": "array", "items": items}));
        prop_oneof![leaf, object, array].boxed()
    }

    /// A random document, often shaped like `schema`.
    fn document(rng: &mut StdRng, schema: &Value, depth: u32) -> Value {
        let any = |rng: &mut StdRng| match rng.gen_range(0..7) {
            0 => Value::Null,
            1 => json!(rng.gen::<bool>()),
            2 => json!(rng.gen_range(-2..3)),
            3 => json!(1.5),
            4 => json!(["x", "", "abcdef"][rng.gen_range(0..3)]),
            5 => json!([1, "x"]),
            _ => json!({"a": 1, "d": "x"}),
        };
        if depth == 0 || rng.gen_range(0..4) == 0 {
            return any(rng);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let mut o = serde_json::Map::new();
                let props = schema.get("properties").and_then(Value::as_object);
                for name in NAMES.iter().chain(["d"].iter()) {
                    if rng.gen_bool(0.6) {
                        let sub = props
                            .and_then(|p| p.get(*name))
                            .cloned()
                            .unwrap_or(json!({}));
                        o.insert(name.to_string(), document(rng, &sub, depth - 1));
                    }
                }
                Value::Object(o)
            }
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                (0..rng.gen_range(0..3))
                    .map(|_| document(rng, &items, depth - 1))
                    .collect()
            }
            _ => any(rng),
        }
    }

    fn valid(schema: &Value, doc: &Value) -> bool {
        jsonschema::validator_for(schema)
            .expect("a valid schema")
            .is_valid(doc)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn subsumed_documents_stay_valid(wide in schema(2), narrow in schema(2), seed in any::<u64>()) {
            for (w, n) in [(&wide, &narrow), (&narrow, &narrow), (&wide, &wide)] {
                if !subsumes(w, n) {
                    continue;
                }
                let mut rng = StdRng::seed_from_u64(seed);
                for _ in 0..48 {
                    let doc = document(&mut rng, n, 3);
                    prop_assert!(
                        !valid(n, &doc) || valid(w, &doc),
                        "{doc} is valid under {n} and not under {w}, which subsumes it"
                    );
                }
            }
        }
    }
}
