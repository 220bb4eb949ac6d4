//! Snapshots received from the leader, kept on disk until the store holds
//! them.
//!
//! A follower that is sent a snapshot must never be left with a WAL that
//! starts after the snapshot while its store is still behind it: the entries
//! in between would be gone from both. The raft loop therefore makes the
//! snapshot durable here first, then writes the WAL mark, and only then hands
//! the snapshot to the apply path, which installs it into the store in log
//! order (after the entries queued before it). If the member dies between the
//! mark and the install, the next start finds the store behind the mark and
//! installs the file (see `recovery.rs`). Once the store has it, the file is
//! deleted. etcd keeps its `.snap.db` files for the same reason.
//!
//! A file is the snapshot body followed by its CRC-32 (little endian), so a
//! damaged file is refused rather than installed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory of received snapshot files (`member/snap`).
#[derive(Clone, Debug)]
pub struct SnapFiles {
    dir: PathBuf,
}

const SUFFIX: &str = ".snap";

impl SnapFiles {
    pub fn new(dir: &Path) -> io::Result<SnapFiles> {
        fs::create_dir_all(dir)?;
        Ok(SnapFiles {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{index:016x}{SUFFIX}"))
    }

    /// Durably writes the snapshot taken at `index`.
    pub fn save(&self, index: u64, body: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{index:016x}{SUFFIX}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(body)?;
        f.write_all(&crc32fast::hash(body).to_le_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.path(index))?;
        File::open(&self.dir)?.sync_all()
    }

    /// The body of the snapshot taken at `index`, if its file exists.
    pub fn load(&self, index: u64) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(index);
        let mut data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(body_len) = data.len().checked_sub(4) else {
            return Err(damaged(&path, "shorter than its checksum"));
        };
        let stored = u32::from_le_bytes(data[body_len..].try_into().expect("4 bytes"));
        data.truncate(body_len);
        if crc32fast::hash(&data) != stored {
            return Err(damaged(&path, "checksum mismatch"));
        }
        Ok(Some(data))
    }

    /// Deletes the files of snapshots at or below `index` (the store holds
    /// them durably now), finished or half-written. A file of a newer
    /// snapshot may be being written right now by the raft loop: it stays.
    pub fn remove_up_to(&self, index: u64) -> io::Result<()> {
        self.remove_where(|i, _| i <= index)
    }

    /// Deletes half-written files a crash left behind (at start-up, when no
    /// snapshot is being written).
    pub fn remove_half_written(&self) -> io::Result<()> {
        self.remove_where(|_, tmp| tmp)
    }

    fn remove_where(&self, doomed: impl Fn(u64, bool) -> bool) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let (stem, tmp) = match name.strip_suffix(".tmp") {
                Some(stem) => (stem, true),
                None => (&*name, false),
            };
            let index = stem
                .strip_suffix(SUFFIX)
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            if index.is_some_and(|i| doomed(i, tmp)) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

fn damaged(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("snapshot file {} is damaged: {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapFiles::new(dir.path()).unwrap();
        files.save(7, b"body seven").unwrap();
        files.save(9, b"body nine").unwrap();
        assert_eq!(files.load(7).unwrap().as_deref(), Some(&b"body seven"[..]));
        assert_eq!(files.load(8).unwrap(), None);
        files.remove_up_to(7).unwrap();
        assert_eq!(files.load(7).unwrap(), None);
        assert_eq!(files.load(9).unwrap().as_deref(), Some(&b"body nine"[..]));
    }

    /// The apply path deletes what the store installed while the raft loop
    /// may be writing a newer snapshot: that half-written file must survive
    /// (deleting it made the raft loop's rename fail, and the member died).
    #[test]
    fn removing_installed_snapshots_spares_a_newer_one_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapFiles::new(dir.path()).unwrap();
        files.save(7, b"seven").unwrap();
        let writing = dir.path().join(format!("{:016x}{SUFFIX}.tmp", 9));
        fs::write(&writing, b"nine, half").unwrap();
        let crashed = dir.path().join(format!("{:016x}{SUFFIX}.tmp", 5));
        fs::write(&crashed, b"five, half").unwrap();
        files.remove_up_to(7).unwrap();
        assert_eq!(files.load(7).unwrap(), None);
        assert!(writing.exists(), "the snapshot being written was deleted");
        assert!(!crashed.exists(), "an older half-written file stays");
        files.remove_half_written().unwrap();
        assert!(!writing.exists());
    }

    #[test]
    fn refuses_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapFiles::new(dir.path()).unwrap();
        files.save(3, b"some snapshot").unwrap();
        let path = files.path(3);
        let mut bytes = fs::read(&path).unwrap();
        bytes[2] ^= 0x10;
        fs::write(&path, bytes).unwrap();
        let err = files.load(3).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        fs::write(&path, b"ab").unwrap();
        assert!(files.load(3).is_err());
    }
}
