//! The write buffer in front of the engine (`etcd_store::write_buffer`):
//! every read through it answers what the engine alone would, whatever the
//! mix of buffered, handed-over and deleted rows; rows being handed over
//! stay readable; and nothing reaches the engine before a hand-over.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_store::backend::{Rows, WriteBatch};
use etcd_store::{Backend, MemBackend, StoreError, WriteBuffer};
use proptest::prelude::*;

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
enum Step {
    /// Puts (`Some`) and deletes (`None`) of one-byte keys, as one batch.
    Write(Vec<(u8, Option<u8>)>),
    CommitIfDue,
    Flush,
    Get(u8),
    /// Scan `[start, end)`, stopping after `take` rows.
    Scan(u8, u8, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let key = 0u8..24;
    prop_oneof![
        4 => prop::collection::vec((key.clone(), prop::option::of(any::<u8>())), 1..6).prop_map(Step::Write),
        2 => Just(Step::CommitIfDue),
        1 => Just(Step::Flush),
        2 => key.clone().prop_map(Step::Get),
        3 => (key.clone(), key, 0usize..30).prop_map(|(a, b, n)| Step::Scan(a, b + 1, n)),
    ]
}

fn k(b: u8) -> Vec<u8> {
    vec![b'k', b]
}

fn scan(b: &dyn Backend, start: u8, end: u8, take: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    b.scan_each(&k(start), &k(end), &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        out.len() < take
    })
    .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Reads through a buffer handing over every `limit` rows equal reads
    /// of a plain engine given the same writes.
    #[test]
    fn reads_through_the_buffer_match_the_engine_alone(
        steps in prop::collection::vec(step(), 1..60),
        limit in 1usize..12,
    ) {
        let plain = MemBackend::default();
        let buffered = WriteBuffer::with_limits(MemBackend::default(), limit, HOUR);
        for s in &steps {
            match s {
                Step::Write(ops) => {
                    let batch = || WriteBatch {
                        ops: ops.iter().map(|(key, v)| (k(*key), v.map(|v| vec![v]))).collect(),
                    };
                    plain.write(batch()).unwrap();
                    buffered.write(batch()).unwrap();
                }
                Step::CommitIfDue => buffered.commit_if_due().unwrap(),
                Step::Flush => buffered.flush().unwrap(),
                Step::Get(key) => prop_assert_eq!(buffered.get(&k(*key)).unwrap(), plain.get(&k(*key)).unwrap()),
                Step::Scan(a, b, n) => prop_assert_eq!(scan(&buffered, *a, *b, *n), scan(&plain, *a, *b, *n), "{:?}", s),
            }
        }
        buffered.commit_if_due().unwrap();
        prop_assert!(buffered.buffered_rows() < limit, "a due hand-over left rows behind");
    }
}

#[test]
fn scans_longer_than_a_chunk_merge_in_order() {
    let plain = MemBackend::default();
    let buffered = WriteBuffer::with_limits(MemBackend::default(), 1000, HOUR);
    // Even keys handed over, then odd keys buffered and every fourth even key deleted.
    let even = || WriteBatch {
        ops: (0..2000u32)
            .step_by(2)
            .map(|i| (i.to_be_bytes().to_vec(), Some(vec![1])))
            .collect(),
    };
    plain.write(even()).unwrap();
    buffered.write(even()).unwrap();
    buffered.flush().unwrap();
    let more = || WriteBatch {
        ops: (0..2000u32)
            .filter(|i| i % 2 == 1 || i % 8 == 0)
            .map(|i| (i.to_be_bytes().to_vec(), (i % 2 == 1).then(|| vec![2])))
            .collect(),
    };
    plain.write(more()).unwrap();
    buffered.write(more()).unwrap();
    assert!(buffered.buffered_rows() > 1000, "most of it still buffered");
    let all = |b: &dyn Backend| b.scan(&[], &[0xff; 5]).unwrap();
    assert_eq!(all(&buffered), all(&plain));
    assert_eq!(all(&buffered).len(), 1750);
}

/// An engine whose hand-over waits until the test lets it finish.
struct GatedEngine {
    inner: MemBackend,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    handed_over: Mutex<usize>,
}

impl Backend for GatedEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan_each(start, end, f)
    }
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.inner.write(batch)
    }
    fn write_rows(&self, rows: &Rows) -> Result<(), StoreError> {
        self.entered.lock().unwrap().send(()).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        *self.handed_over.lock().unwrap() += rows.len();
        self.inner.write_rows(rows)
    }
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn size_bytes(&self) -> u64 {
        0
    }
}

#[test]
fn rows_being_handed_over_stay_readable_and_nothing_reaches_the_engine_before() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let buffer = Arc::new(WriteBuffer::with_limits(
        GatedEngine {
            inner: MemBackend::default(),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
            handed_over: Mutex::new(0),
        },
        2,
        HOUR,
    ));
    let mut batch = WriteBatch::default();
    batch.put(b"a".to_vec(), b"1".to_vec());
    buffer.write(batch).unwrap();
    // One row: not due, nothing handed over, readable from the buffer.
    buffer.commit_if_due().unwrap();
    assert!(entered.try_recv().is_err(), "handed over before it was due");
    assert_eq!(buffer.get(b"a").unwrap(), Some(b"1".to_vec()));

    let mut batch = WriteBatch::default();
    batch.put(b"b".to_vec(), b"2".to_vec());
    batch.delete(b"a".to_vec());
    buffer.write(batch).unwrap();
    let handing = {
        let buffer = buffer.clone();
        std::thread::spawn(move || buffer.commit_if_due())
    };
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("hand-over started");
    // Mid hand-over: the engine has nothing yet, the buffer answers.
    assert_eq!(buffer.buffered_rows(), 0);
    assert_eq!(buffer.get(b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(buffer.get(b"a").unwrap(), None);
    assert_eq!(
        buffer.scan(b"", b"z").unwrap(),
        vec![(b"b".to_vec(), b"2".to_vec())]
    );
    // A write meanwhile lands in the fresh layer and wins over the old one.
    let mut batch = WriteBatch::default();
    batch.put(b"b".to_vec(), b"3".to_vec());
    buffer.write(batch).unwrap();
    assert_eq!(buffer.get(b"b").unwrap(), Some(b"3".to_vec()));
    release.send(()).unwrap();
    handing.join().unwrap().unwrap();
    assert_eq!(buffer.get(b"b").unwrap(), Some(b"3".to_vec()));
    assert_eq!(
        buffer.scan(b"", b"z").unwrap(),
        vec![(b"b".to_vec(), b"3".to_vec())]
    );
}

#[test]
fn the_size_counts_rows_not_handed_over_yet() {
    let buffer = WriteBuffer::with_limits(MemBackend::default(), 100, HOUR);
    assert_eq!(buffer.size_bytes(), 0);
    let mut batch = WriteBatch::default();
    batch.put(b"key".to_vec(), vec![0; 100]);
    batch.put(b"other".to_vec(), vec![0; 10]);
    buffer.write(batch).unwrap();
    assert_eq!(buffer.size_bytes(), 3 + 100 + 5 + 10);
    let mut batch = WriteBatch::default();
    batch.put(b"key".to_vec(), vec![0; 50]);
    batch.delete(b"other".to_vec());
    buffer.write(batch).unwrap();
    assert_eq!(buffer.size_bytes(), 3 + 50 + 5);
    buffer.flush().unwrap();
    // Now the engine's own measure: the memory backend counts live rows.
    assert_eq!(buffer.size_bytes(), 3 + 50);
}
