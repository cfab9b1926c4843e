//! Checkpoint storage: a blocking facade over an `object_store` location (a local directory by
//! default; `s3://`, `gs://`, `az://` URLs with credentials from the environment, as the
//! object_store builders read them; `memory://` for tests). Paths are relative to the
//! location's root, `/`-separated. Every `put` is atomic (a reader sees the whole object or
//! none), which is what makes "the manifest exists" mean "the checkpoint is complete".

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{Result, StateError};

pub struct CheckpointStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    rt: tokio::runtime::Runtime,
    location: String,
}

fn ext(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::External(format!("{what}: {e}"))
}

impl CheckpointStore {
    /// Open `location`: a path (`/var/rask/chk`, `./chk`, `file:///…`) or an object store URL.
    pub fn open(location: &str) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rask-checkpoint-io")
            .enable_all()
            .build()
            .map_err(|e| ext("cannot start the checkpoint I/O runtime", e))?;
        let (store, root): (Arc<dyn ObjectStore>, Path) = match location.split_once("://") {
            Some(("memory", _)) => (Arc::new(object_store::memory::InMemory::new()), Path::default()),
            Some(("file", p)) => (local(p)?, Path::default()),
            Some((scheme, _)) => {
                let url = url_parse(location)?;
                let root = Path::from(url.path().trim_start_matches('/'));
                let store: Arc<dyn ObjectStore> = match scheme {
                    "s3" | "s3a" => Arc::new(
                        object_store::aws::AmazonS3Builder::from_env().with_url(location).build().map_err(|e| bad_url(location, e))?,
                    ),
                    "gs" => Arc::new(
                        object_store::gcp::GoogleCloudStorageBuilder::from_env()
                            .with_url(location)
                            .build()
                            .map_err(|e| bad_url(location, e))?,
                    ),
                    "az" | "adl" | "azure" | "abfs" | "abfss" => Arc::new(
                        object_store::azure::MicrosoftAzureBuilder::from_env()
                            .with_url(location)
                            .build()
                            .map_err(|e| bad_url(location, e))?,
                    ),
                    other => {
                        return Err(StateError::User(format!(
                            "unsupported checkpoint storage scheme '{other}://' in '{location}'; use a directory, file://, s3://, gs:// or az://"
                        )));
                    }
                };
                (store, root)
            }
            None => (local(location)?, Path::default()),
        };
        Ok(CheckpointStore { store, root, rt, location: location.to_string() })
    }

    /// The location as the user gave it (for messages).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, rel: &str) -> Path {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// Write `bytes` at `rel`, atomically.
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let p = self.path(rel);
        self.rt
            .block_on(self.store.put(&p, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| ext(&format!("cannot write '{rel}' to checkpoint storage {}", self.location), e))
    }

    /// Read `rel`, `None` if it does not exist.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(rel);
        let r = self.rt.block_on(async {
            match self.store.get(&p).await {
                Ok(g) => g.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        r.map(|b| b.map(|b| b.to_vec())).map_err(|e| ext(&format!("cannot read '{rel}' from checkpoint storage {}", self.location), e))
    }

    /// Whether `rel` exists.
    pub fn exists(&self, rel: &str) -> Result<bool> {
        let p = self.path(rel);
        match self.rt.block_on(self.store.head(&p)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ext(&format!("cannot read '{rel}' from checkpoint storage {}", self.location), e)),
        }
    }

    /// The names of the directories (common prefixes) directly under `rel` ("" = the root).
    pub fn list_dirs(&self, rel: &str) -> Result<Vec<String>> {
        let p = self.path(rel);
        let r = self.rt.block_on(self.store.list_with_delimiter(Some(&p)));
        match r {
            Ok(l) => Ok(l.common_prefixes.iter().filter_map(|p| p.filename().map(|s| s.to_string())).collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(ext(&format!("cannot list checkpoint storage {}", self.location), e)),
        }
    }

    /// The files (recursively) under `rel`, as paths relative to the root.
    pub fn list_files(&self, rel: &str) -> Result<Vec<String>> {
        let p = self.path(rel);
        let root = self.root.clone();
        let r: Result<Vec<String>, object_store::Error> = self.rt.block_on(async {
            let metas: Vec<_> = self.store.list(Some(&p)).try_collect().await?;
            Ok(metas
                .into_iter()
                .map(|m| {
                    let parts: Vec<String> = m.location.prefix_match(&root).map(|it| it.map(|s| s.as_ref().to_string()).collect()).unwrap_or_default();
                    parts.join("/")
                })
                .collect())
        });
        r.map_err(|e| ext(&format!("cannot list checkpoint storage {}", self.location), e))
    }

    /// Delete one object (missing is fine).
    pub fn delete(&self, rel: &str) -> Result<()> {
        let p = self.path(rel);
        match self.rt.block_on(self.store.delete(&p)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ext(&format!("cannot delete '{rel}' from checkpoint storage {}", self.location), e)),
        }
    }

    /// Delete everything under the directory `rel`.
    pub fn delete_dir(&self, rel: &str) -> Result<()> {
        for f in self.list_files(rel)? {
            self.delete(&f)?;
        }
        if let Some(dir) = self.local_dir(rel) {
            let _ = std::fs::remove_dir_all(dir); // the empty directories a local store leaves
        }
        Ok(())
    }

    fn local_dir(&self, rel: &str) -> Option<std::path::PathBuf> {
        let base = match self.location.split_once("://") {
            Some(("file", p)) => p,
            Some(_) => return None,
            None => self.location.as_str(),
        };
        Some(std::path::Path::new(base).join(rel))
    }
}

fn url_parse(location: &str) -> Result<url::Url> {
    url::Url::parse(location).map_err(|e| bad_url(location, e))
}

fn bad_url(location: &str, e: impl std::fmt::Display) -> StateError {
    StateError::User(format!("invalid checkpoint storage location '{location}': {e}"))
}

fn local(dir: &str) -> Result<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(dir).map_err(|e| ext(&format!("cannot create checkpoint directory '{dir}'"), e))?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| ext(&format!("cannot open checkpoint directory '{dir}'"), e))?;
    Ok(Arc::new(fs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete_in_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = CheckpointStore::open(dir.path().to_str().expect("utf8")).expect("open");
        s.put("chk-1/a.state", b"hello".to_vec()).expect("put");
        s.put("chk-2/_metadata", b"{}".to_vec()).expect("put");
        assert_eq!(s.get("chk-1/a.state").expect("get"), Some(b"hello".to_vec()));
        assert_eq!(s.get("chk-1/missing").expect("get"), None);
        assert!(s.exists("chk-2/_metadata").expect("head"));
        let mut dirs = s.list_dirs("").expect("list");
        dirs.sort();
        assert_eq!(dirs, vec!["chk-1", "chk-2"]);
        assert_eq!(s.list_files("chk-1").expect("files"), vec!["chk-1/a.state"]);
        s.delete_dir("chk-1").expect("delete");
        assert_eq!(s.list_dirs("").expect("list"), vec!["chk-2"]);
        assert!(!dir.path().join("chk-1").exists());
    }

    #[test]
    fn unknown_scheme_is_a_user_error() {
        let e = CheckpointStore::open("ftp://x/y").err().expect("error");
        assert!(e.to_string().contains("unsupported checkpoint storage scheme 'ftp://'"), "{e}");
    }
}
