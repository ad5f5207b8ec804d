//! The local backend's files are secrets (password hashes, the key, mailed links): the data dir
//! and the outbox are made `0700` and every file in them `0600`, whatever the umask says.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Owner-only directories.
pub const DIR_MODE: u32 = 0o700;
/// Owner-only files.
pub const FILE_MODE: u32 = 0o600;

/// Create a directory (and its missing parents) readable by its owner only. An existing
/// directory is left as it is (it may be one the user chose and shares on purpose), with a
/// warning when others can read it.
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data dir is readable by other users; chmod 700 it"
        );
    }
    Ok(())
}

/// Make sure a file exists and is readable by its owner only (created `0600` when missing,
/// tightened to `0600` when it exists): for files a library opens itself, such as the store.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
}

/// Write a new file readable by its owner only; fails if it exists.
pub async fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .await?;
    file.write_all(bytes).await?;
    file.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn directories_and_files_are_owner_only_whatever_the_umask() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("outbox");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("data")), 0o700);

        let store = dir.join("store");
        fs::write(&store, b"x").unwrap();
        fs::set_permissions(&store, fs::Permissions::from_mode(0o644)).unwrap();
        ensure_private_file(&store).unwrap();
        assert_eq!(mode(&store), 0o600);
        assert_eq!(
            fs::read(&store).unwrap(),
            b"x",
            "an existing file keeps its content"
        );

        let mail = dir.join("mail.eml");
        write_new(&mail, b"hello").await.unwrap();
        assert_eq!(mode(&mail), 0o600);
        assert!(write_new(&mail, b"again").await.is_err());
    }
}
