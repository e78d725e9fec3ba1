//! Bounded walks of request bodies with nested arrays, before the codec decodes them.
//!
//! `kafka-protocol` 0.18 reserves capacity for every array from its wire count, nested
//! ones included (see [`crate::wire`]). [`check`] walks a body along a small schema of the
//! request, field by field, and refuses any array whose count cannot fit in the bytes that
//! remain, given the smallest size one element can have. Every element is walked, so the
//! work is bounded by the body's length. The walk reads tagged fields as the codec does
//! (skipping their bytes) and ignores bytes after the body, as the codec does.

/// The wire type of a field.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Int8,
    Int16,
    Int32,
    Int64,
    Uuid,
    Bool,
    /// A string, nullable or not (same wire form).
    Str,
    /// Bytes or records, nullable or not: an int32 length (-1 = null), or in flexible
    /// versions an unsigned varint of length + 1.
    Bytes,
    /// An array of int8s, nullable or not.
    Int8s,
    /// An array of int32s, nullable or not.
    Int32s,
    /// An array of strings, nullable or not.
    Strs,
    /// An array of structs with these fields, nullable or not.
    Structs(&'static [Field]),
}

/// A field and the versions it is present in.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub ty: Ty,
    pub min_version: i16,
    pub max_version: i16,
}

/// A field present in every version.
pub const fn all(ty: Ty) -> Field {
    Field {
        ty,
        min_version: 0,
        max_version: i16::MAX,
    }
}

/// A field present from version `min` on.
pub const fn from(min: i16, ty: Ty) -> Field {
    Field {
        ty,
        min_version: min,
        max_version: i16::MAX,
    }
}

/// A field present up to version `max`.
pub const fn until(max: i16, ty: Ty) -> Field {
    Field {
        ty,
        min_version: 0,
        max_version: max,
    }
}

/// Walks `body` (a request body at `version`; `flexible` for versions with compact
/// encodings and tagged fields) along `fields`, refusing array counts the body cannot hold.
pub fn check(body: &[u8], fields: &[Field], version: i16, flexible: bool) -> Result<(), String> {
    let mut walker = Walker {
        buf: body,
        version,
        flexible,
    };
    walker.fields(fields)
}

struct Walker<'a> {
    buf: &'a [u8],
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn present(&self, f: &Field) -> bool {
        (f.min_version..=f.max_version).contains(&self.version)
    }

    fn take(&mut self, n: usize) -> Result<(), String> {
        if self.buf.len() < n {
            return Err(format!(
                "truncated: {n} bytes needed, {} left",
                self.buf.len()
            ));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    fn varint(&mut self) -> Result<u32, String> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err("truncated varint".to_string());
            };
            self.buf = rest;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("malformed varint".to_string())
    }

    fn int16(&mut self) -> Result<i16, String> {
        let bytes: [u8; 2] = self
            .buf
            .get(..2)
            .and_then(|b| b.try_into().ok())
            .ok_or("truncated int16")?;
        self.buf = &self.buf[2..];
        Ok(i16::from_be_bytes(bytes))
    }

    fn int32(&mut self) -> Result<i32, String> {
        let bytes: [u8; 4] = self
            .buf
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("truncated int32")?;
        self.buf = &self.buf[4..];
        Ok(i32::from_be_bytes(bytes))
    }

    /// An array's element count; `None` for null.
    fn count(&mut self, min_element: usize) -> Result<Option<usize>, String> {
        let count = if self.flexible {
            match self.varint()? {
                0 => return Ok(None),
                n => (n - 1) as usize,
            }
        } else {
            match self.int32()? {
                -1 => return Ok(None),
                n if n < 0 => return Err(format!("negative array length {n}")),
                n => n as usize,
            }
        };
        let fits = self.buf.len() / min_element.max(1);
        if count > fits {
            return Err(format!(
                "array declares {count} elements but only {} bytes follow",
                self.buf.len()
            ));
        }
        Ok(Some(count))
    }

    fn string(&mut self) -> Result<(), String> {
        let len = if self.flexible {
            (self.varint()? as usize).saturating_sub(1)
        } else {
            self.int16()?.max(0) as usize
        };
        self.take(len)
    }

    fn bytes(&mut self) -> Result<(), String> {
        let len = if self.flexible {
            (self.varint()? as usize).saturating_sub(1)
        } else {
            self.int32()?.max(0) as usize
        };
        self.take(len)
    }

    fn tagged_fields(&mut self) -> Result<(), String> {
        if !self.flexible {
            return Ok(());
        }
        let n = self.varint()?;
        for _ in 0..n {
            self.varint()?;
            let size = self.varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }

    /// The fewest bytes a value of `ty` takes.
    fn min_size(&self, ty: Ty) -> usize {
        let (short, long) = if self.flexible { (1, 1) } else { (2, 4) };
        match ty {
            Ty::Int8 | Ty::Bool => 1,
            Ty::Int16 => 2,
            Ty::Int32 => 4,
            Ty::Int64 => 8,
            Ty::Uuid => 16,
            Ty::Str => short,
            Ty::Bytes | Ty::Int8s | Ty::Int32s | Ty::Strs | Ty::Structs(_) => long,
        }
    }

    fn struct_min_size(&self, fields: &[Field]) -> usize {
        let tags = usize::from(self.flexible);
        fields
            .iter()
            .filter(|f| self.present(f))
            .map(|f| self.min_size(f.ty))
            .sum::<usize>()
            + tags
    }

    fn fields(&mut self, fields: &[Field]) -> Result<(), String> {
        let version = self.version;
        for f in fields
            .iter()
            .filter(|f| (f.min_version..=f.max_version).contains(&version))
        {
            match f.ty {
                Ty::Int8 | Ty::Bool => self.take(1)?,
                Ty::Int16 => self.take(2)?,
                Ty::Int32 => self.take(4)?,
                Ty::Int64 => self.take(8)?,
                Ty::Uuid => self.take(16)?,
                Ty::Str => self.string()?,
                Ty::Bytes => self.bytes()?,
                Ty::Int8s => {
                    if let Some(n) = self.count(1)? {
                        self.take(n)?;
                    }
                }
                Ty::Int32s => {
                    if let Some(n) = self.count(4)? {
                        self.take(n * 4)?;
                    }
                }
                Ty::Strs => {
                    let min = self.min_size(Ty::Str);
                    for _ in 0..self.count(min)?.unwrap_or(0) {
                        self.string()?;
                    }
                }
                Ty::Structs(inner) => {
                    let min = self.struct_min_size(inner);
                    for _ in 0..self.count(min)?.unwrap_or(0) {
                        self.fields(inner)?;
                    }
                }
            }
        }
        self.tagged_fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INNER: &[Field] = &[all(Ty::Int32), all(Ty::Int32s)];
    const OUTER: &[Field] = &[all(Ty::Structs(INNER)), from(1, Ty::Bool)];

    #[test]
    fn nested_counts_are_bounded() {
        // One element: int32 1, int32s [7]; then the bool of v1.
        let good = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 1];
        check(&good, OUTER, 1, false).unwrap();
        // v0 has no bool: the trailing byte is ignored.
        check(&good, OUTER, 0, false).unwrap();
        // The nested count lies.
        let mut bad = good;
        bad[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(check(&bad, OUTER, 1, false).is_err());
        // The outer count lies.
        let mut bad = good;
        bad[0..4].copy_from_slice(&1000i32.to_be_bytes());
        assert!(check(&bad, OUTER, 1, false).is_err());
        // Truncated.
        assert!(check(&good[..10], OUTER, 1, false).is_err());
    }

    #[test]
    fn flexible_bodies_skip_tagged_fields() {
        // Compact array of 1: int32 1, compact int32s [] (varint 1), tags 0; bool; tags with
        // one field of 2 bytes.
        let good = [2, 0, 0, 0, 1, 1, 0, 1, 1, 5, 2, 0xaa, 0xbb];
        check(&good, OUTER, 1, true).unwrap();
        let huge_varint = [0xff, 0xff, 0xff, 0xff, 0x07];
        assert!(check(&huge_varint, OUTER, 1, true).is_err());
        // A tagged field longer than the body.
        let bad = [2, 0, 0, 0, 1, 1, 0, 1, 1, 5, 9, 0xaa];
        assert!(check(&bad, OUTER, 1, true).is_err());
    }

    /// Every admin handler's schema accepts real requests with nested content at every
    /// version it serves, and refuses them once their last array count lies.
    #[test]
    fn handler_schemas_match_the_codec() {
        use crate::apis::Handler;
        use crate::handlers::*;
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::{Encodable, StrBytes};

        fn s(v: &str) -> StrBytes {
            StrBytes::from_string(v.to_string())
        }
        fn name(v: &str) -> TopicName {
            TopicName(s(v))
        }
        fn encode<R: Encodable>(r: &R, v: i16) -> Vec<u8> {
            let mut buf = bytes::BytesMut::new();
            r.encode(&mut buf, v).unwrap();
            buf.to_vec()
        }
        fn accepts<H: Handler, R: Encodable>(r: &R) {
            for v in H::MIN_VERSION..=H::MAX_VERSION {
                let body = encode(r, v);
                H::check_request(v, &body).unwrap_or_else(|e| panic!("{} v{v}: {e}", H::NAME));
                // Cut inside the body: refused or accepted, never a panic.
                let _ = H::check_request(v, &body[..body.len() / 2]);
            }
        }

        let create = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(name("a"))
                .with_assignments(vec![
                    create_topics_request::CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
                ])
                .with_configs(vec![create_topics_request::CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(None)]),
        ]);
        accepts::<create_topics::CreateTopics, _>(&create);

        for v in 1..=6i16 {
            let delete = if v >= 6 {
                DeleteTopicsRequest::default()
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(name("a")))])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![name("a"), name("b")])
            };
            delete_topics::DeleteTopics::check_request(v, &encode(&delete, v)).unwrap();
        }

        let partitions = CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name("a"))
                .with_assignments(Some(vec![
                    create_partitions_request::CreatePartitionsAssignment::default()
                        .with_broker_ids(vec![BrokerId(1)]),
                ])),
        ]);
        accepts::<create_partitions::CreatePartitions, _>(&partitions);

        let describe = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_name(s("a"))
                .with_configuration_keys(Some(vec![s("x"), s("y")])),
        ]);
        accepts::<describe_configs::DescribeConfigs, _>(&describe);

        let alter = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_name(s("a"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("x"))
                    .with_value(Some(s("1")))]),
        ]);
        accepts::<alter_configs::AlterConfigs, _>(&alter);

        let incremental = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_name(s("a"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("x"))
                        .with_config_operation(2)
                        .with_value(Some(s("1"))),
                ]),
        ]);
        accepts::<incremental_alter_configs::IncrementalAlterConfigs, _>(&incremental);

        let log_dirs = DescribeLogDirsRequest::default().with_topics(Some(vec![
            describe_log_dirs_request::DescribableLogDirTopic::default()
                .with_topic(name("a"))
                .with_partitions(vec![0, 1, 2]),
        ]));
        accepts::<describe_log_dirs::DescribeLogDirs, _>(&log_dirs);
        accepts::<describe_log_dirs::DescribeLogDirs, _>(
            &DescribeLogDirsRequest::default().with_topics(None),
        );

        // A lying partitions count inside a DescribeLogDirs v1 request: topics count (4),
        // topic "a" (2 + 1), then the partitions count.
        let mut body = encode(&log_dirs, 1);
        body[7..11].copy_from_slice(&1_000_000i32.to_be_bytes());
        assert!(describe_log_dirs::DescribeLogDirs::check_request(1, &body).is_err());
    }
}
