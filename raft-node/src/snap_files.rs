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
    /// them durably now), and any half-written file.
    pub fn remove_up_to(&self, index: u64) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let covered = name
                .strip_suffix(SUFFIX)
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .is_some_and(|i| i <= index);
            if covered || name.ends_with(".tmp") {
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
