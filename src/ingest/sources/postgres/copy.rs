//! Decoding `COPY … TO STDOUT (FORMAT binary)` into RecordBatches while it
//! streams: bytes are buffered only until a whole row is there, rows only
//! until a batch is full.
//!
//! The format: an 11-byte signature, flags (i32), a header extension
//! (i32 length + bytes); then per row an i16 field count (-1 ends the data)
//! and per field an i32 length (-1 is NULL) and that many bytes.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use bytes::{Buf, Bytes, BytesMut};
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::{Stream, StreamExt};
use tokio_postgres::{Client, CopyOutStream};

use super::Source;
use super::columns::{Kind, SourceColumn};
use crate::error::VoidxError;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Days and microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

enum Builder {
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder, i8),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Int2 => Builder::Int16(Int16Builder::new()),
            Kind::Int4 => Builder::Int32(Int32Builder::new()),
            Kind::Int8 => Builder::Int64(Int64Builder::new()),
            Kind::Float4 => Builder::Float32(Float32Builder::new()),
            Kind::Float8 | Kind::NumericAsFloat => Builder::Float64(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Text | Kind::PaddedText | Kind::AsText => Builder::Text(StringBuilder::new()),
            Kind::Date => Builder::Date(Date32Builder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new()),
            Kind::TimestampTz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            Kind::Decimal(p, s) => Builder::Decimal(
                Decimal128Builder::new()
                    .with_precision_and_scale(p, s)
                    .unwrap_or_default(),
                s,
            ),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Decimal(b, _) => b.append_null(),
        }
    }

    fn append(&mut self, v: &[u8]) -> Result<(), String> {
        match self {
            Builder::Int16(b) => b.append_value(i16::from_be_bytes(fixed(v)?)),
            Builder::Int32(b) => b.append_value(i32::from_be_bytes(fixed(v)?)),
            Builder::Int64(b) => b.append_value(i64::from_be_bytes(fixed(v)?)),
            Builder::Float32(b) => b.append_value(f32::from_be_bytes(fixed(v)?)),
            Builder::Float64(b) => b.append_value(f64::from_be_bytes(fixed(v)?)),
            Builder::Bool(b) => b.append_value(fixed::<1>(v)?[0] != 0),
            Builder::Text(b) => b.append_value(text(v)?),
            Builder::Date(b) => {
                let days = i32::from_be_bytes(fixed(v)?);
                let days = days
                    .checked_add(PG_EPOCH_DAYS)
                    .ok_or("a date is infinity or out of range")?;
                b.append_value(days)
            }
            Builder::Timestamp(b) => {
                let micros = i64::from_be_bytes(fixed(v)?);
                let micros = micros
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or("a timestamp is infinity or out of range")?;
                b.append_value(micros)
            }
            Builder::Decimal(b, scale) => b.append_value(parse_decimal(text(v)?, *scale)?),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Decimal(b, _) => Arc::new(b.finish()),
        }
    }
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", v.len()))
}

fn text(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|_| "a text value is not UTF-8".to_string())
}

/// `-123.4500` → -1234500 at scale 4. PostgreSQL prints exactly the
/// column's scale, so digits are never dropped.
pub fn parse_decimal(s: &str, scale: i8) -> Result<i128, String> {
    let bad = || format!("'{s}' is not a decimal number Arrow can hold");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = scale.max(0) as usize;
    if frac_part.len() > scale && frac_part[scale..].bytes().any(|b| b != b'0') {
        return Err(bad());
    }
    let mut value: i128 = 0;
    let frac = frac_part.bytes().chain(std::iter::repeat(b'0')).take(scale);
    for b in int_part.bytes().chain(frac) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if negative { -value } else { value })
}

/// Incremental decoder of one COPY stream.
pub struct Decoder {
    buffer: BytesMut,
    header_done: bool,
    finished: bool,
    builders: Vec<Builder>,
    rows: usize,
    schema: SchemaRef,
    columns: Arc<Vec<SourceColumn>>,
}

impl Decoder {
    pub fn new(columns: Arc<Vec<SourceColumn>>, schema: SchemaRef) -> Decoder {
        Decoder {
            buffer: BytesMut::new(),
            header_done: false,
            finished: false,
            builders: columns.iter().map(|c| Builder::new(c.kind)).collect(),
            rows: 0,
            schema,
            columns,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// Decode whole rows from the buffer until `max_rows` are pending.
    pub fn decode(&mut self, max_rows: usize) -> Result<(), String> {
        if !self.header_done {
            if self.buffer.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buffer[..SIGNATURE.len()] != SIGNATURE {
                return Err("the COPY data does not start with the binary signature".into());
            }
            let ext = i32::from_be_bytes(fixed(&self.buffer[15..19])?);
            let header = 19 + usize::try_from(ext).map_err(|_| "bad COPY header")?;
            if self.buffer.len() < header {
                return Ok(());
            }
            self.buffer.advance(header);
            self.header_done = true;
        }
        while !self.finished && self.rows < max_rows {
            let Some(len) = self.complete_row_len()? else {
                break;
            };
            let mut row = self.buffer.split_to(len).freeze();
            let fields = row.get_i16();
            if fields < 0 {
                self.finished = true;
                break;
            }
            if fields as usize != self.builders.len() {
                return Err(format!(
                    "a row has {fields} fields, expected {}",
                    self.builders.len()
                ));
            }
            for (i, builder) in self.builders.iter_mut().enumerate() {
                let n = row.get_i32();
                if n < 0 {
                    builder.append_null();
                } else {
                    let value = row.split_to(n as usize);
                    builder
                        .append(&value)
                        .map_err(|e| format!("column '{}': {e}", self.columns[i].remote))?;
                }
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// The byte length of the next row if it is wholly buffered.
    fn complete_row_len(&self) -> Result<Option<usize>, String> {
        let buf = &self.buffer[..];
        if buf.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([buf[0], buf[1]]);
        if fields < 0 {
            return Ok(Some(2));
        }
        let mut at = 2usize;
        for _ in 0..fields {
            if buf.len() < at + 4 {
                return Ok(None);
            }
            let n = i32::from_be_bytes(fixed(&buf[at..at + 4])?);
            at += 4;
            if n > 0 {
                at += n as usize;
            }
        }
        Ok((buf.len() >= at).then_some(at))
    }

    pub fn pending_rows(&self) -> usize {
        self.rows
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The pending rows as a batch (cast to declared types where they differ).
    pub fn flush(&mut self) -> DfResult<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        let mut arrays = Vec::with_capacity(self.builders.len());
        for (builder, column) in self.builders.iter_mut().zip(self.columns.iter()) {
            let array = builder.finish();
            arrays.push(if column.is_native() {
                array
            } else {
                arrow::compute::cast(&array, column.field.data_type())?
            });
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &self.buffer.len())
            .field("rows", &self.rows)
            .finish()
    }
}

struct State {
    // Held so the connection lives as long as the COPY stream.
    _client: Client,
    copy: std::pin::Pin<Box<CopyOutStream>>,
    decoder: Decoder,
    batch_size: usize,
    source: Arc<Source>,
    ended: bool,
}

fn decode_error(source: &Source, e: String) -> DataFusionError {
    VoidxError::InvalidArgument(format!(
        "PostgreSQL source {}: cannot decode the rows: {e}. Help: cast the column in the 'query' option",
        source.shown
    ))
    .into()
}

/// The RecordBatches of one COPY stream.
pub fn batches(
    client: Client,
    copy: CopyOutStream,
    columns: Arc<Vec<SourceColumn>>,
    schema: SchemaRef,
    batch_size: usize,
    source: Arc<Source>,
) -> impl Stream<Item = DfResult<RecordBatch>> + Send + 'static {
    let state = State {
        _client: client,
        copy: Box::pin(copy),
        decoder: Decoder::new(columns, schema),
        batch_size,
        source,
        ended: false,
    };
    futures::stream::try_unfold(state, |mut st| async move {
        loop {
            if st.decoder.pending_rows() >= st.batch_size {
                let batch = st.decoder.flush()?;
                return Ok(Some((batch, st)));
            }
            if st.ended || st.decoder.is_finished() {
                if st.decoder.pending_rows() > 0 {
                    let batch = st.decoder.flush()?;
                    return Ok(Some((batch, st)));
                }
                return Ok(None);
            }
            match st.copy.next().await {
                Some(Ok(chunk)) => {
                    let chunk: Bytes = chunk;
                    st.decoder.push(&chunk);
                    let max = st.batch_size;
                    st.decoder
                        .decode(max)
                        .map_err(|e| decode_error(&st.source, e))?;
                }
                Some(Err(e)) => {
                    return Err(super::pg_error(&st.source, "COPY failed", e).into());
                }
                None => {
                    st.decoder
                        .decode(usize::MAX)
                        .map_err(|e| decode_error(&st.source, e))?;
                    st.ended = true;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Field, Int32Type, Schema};

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("-123.4500", 4), Ok(-1_234_500));
        assert_eq!(parse_decimal("7", 2), Ok(700));
        assert_eq!(parse_decimal("0.5", 1), Ok(5));
        assert!(parse_decimal("NaN", 2).is_err());
        assert!(parse_decimal("1.234", 2).is_err());
    }

    fn message(rows: &[Option<i32>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for row in rows {
            out.extend_from_slice(&1i16.to_be_bytes());
            match row {
                Some(v) => {
                    out.extend_from_slice(&4i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    #[test]
    fn rows_split_across_chunks_decode_once() {
        let column = SourceColumn {
            field: Field::new("x", arrow::datatypes::DataType::Int32, true),
            remote: "x".into(),
            kind: Kind::Int4,
        };
        let schema = Arc::new(Schema::new(vec![column.field.clone()]));
        let mut decoder = Decoder::new(Arc::new(vec![column]), schema);
        let bytes = message(&[Some(1), None, Some(-3)]);
        // Feed byte by byte: every row boundary falls mid-chunk somewhere.
        for b in &bytes {
            decoder.push(std::slice::from_ref(b));
            decoder.decode(2).unwrap();
            if decoder.pending_rows() == 2 {
                let first = decoder.flush().unwrap();
                assert_eq!(first.num_rows(), 2);
            }
        }
        assert!(decoder.is_finished());
        let last = decoder.flush().unwrap();
        let values = last.column(0).as_primitive::<Int32Type>();
        assert_eq!(values.len(), 1);
        assert_eq!(values.value(0), -3);
    }
}
